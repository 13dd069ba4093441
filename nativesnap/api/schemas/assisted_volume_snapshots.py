"""Request schemas of os-assisted-volume-snapshots: Nova's bodies (see
docs/cinder.md), with the ids Cinder sends (UUIDs) and the file names checked
to be plain names before anything else looks at them."""

from nativesnap.api.schemas import parameter_types as types
from nativesnap.common import states

# A file of the volume's chain, named by Cinder: a plain name in the volume's
# directory. No '/', no '..', no ':' (QEMU reads "proto:" prefixes in backing
# names), no control characters (Unicode's Cc).
file_name = {
    "type": "string",
    "minLength": 1,
    "maxLength": 255,
    "pattern": r"^(?!\.$)(?!.*\.\.)[^/:\x00-\x1f\x7f-\x9f]+$",
    "x-error": "must be a plain file name: 1-255 characters without '/', '..', "
               "':' or control characters",
}
nullable_file_name = dict(file_name, type=["string", "null"])

create = types.envelope("snapshot", {
    "type": "object",
    "properties": {
        "volume_id": types.uuid,
        "create_info": {
            "type": "object",
            "properties": {
                "snapshot_id": types.uuid,
                "type": {"type": "string", "enum": ["qcow2"]},
                "new_file": file_name,
                "id": {"type": "string", "minLength": 1, "maxLength": 255,
                       "pattern": r"^[^\x00-\x1f\x7f-\x9f]+$",
                       "x-error": "must be 1-255 characters without control "
                                  "characters"},
            },
            "required": ["snapshot_id", "type", "new_file"],
            "additionalProperties": False,
        },
    },
    "required": ["volume_id", "create_info"],
    "additionalProperties": False,
}, "Snapshot an attached volume for Cinder: new_file (made by Cinder, backed "
   "by the volume's current file) becomes the file the guest writes.")

# The JSON object in the DELETE's delete_info query parameter.
delete_info = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["qcow2"]},
        "volume_id": types.uuid,
        "file_to_merge": nullable_file_name,
        "merge_target_file": nullable_file_name,
    },
    "required": ["type", "volume_id", "file_to_merge", "merge_target_file"],
    "additionalProperties": False,
    # A commit names the file it merges.
    "if": {"properties": {"merge_target_file": {"type": "string"}},
           "required": ["merge_target_file"]},
    "then": {"properties": {"file_to_merge": {"type": "string"}}},
}

delete_query = {
    "type": "object",
    "properties": {
        "delete_info": {
            "type": "string", "minLength": 2, "maxLength": 4096,
            "contentMediaType": "application/json",
            "contentSchema": delete_info,
            "description": "A JSON object: {\"type\": \"qcow2\", \"volume_id\", "
                           "\"file_to_merge\": file name or null, "
                           "\"merge_target_file\": file name or null}. With "
                           "merge_target_file null, the active file pulls in "
                           "the layers above file_to_merge (all of them when "
                           "null); otherwise file_to_merge is committed into "
                           "merge_target_file.",
        },
    },
    "required": ["delete_info"],
    "additionalProperties": False,
}

index_query = {
    "type": "object",
    "properties": {
        "limit": types.query_limit,
        "marker": types.query_uuid,
        "volume_id": types.query_uuid,
        "server_id": types.query_uuid,
        "action": {"type": "string", "enum": list(states.VOLUME_OP_ACTIONS)},
        "status": {"type": "string", "enum": list(states.VOLUME_OP_STATUSES)},
    },
    "additionalProperties": False,
}

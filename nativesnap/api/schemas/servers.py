"""Request schemas of /v1/servers."""

from nativesnap.api.schemas import parameter_types as types
from nativesnap.api.schemas import server_snapshots
from nativesnap.common import states
from nativesnap.objects import server as server_obj

adopt = types.envelope("server", {
    "type": "object",
    "properties": {
        "name": types.name,
        "driver": {"type": "string", "minLength": 1, "maxLength": 64,
                   "pattern": "^[a-z][a-z0-9_]*$",
                   "x-error": "must be a driver name such as 'libvirt'"},
        "hypervisor_ref": {"type": "string", "minLength": 1, "maxLength": 255,
                           "pattern": r"^[^\x00-\x1f\x7f-\x9f]+$",
                           "x-error": "must be 1-255 characters without "
                                      "control characters"},
        "project_id": types.project_id,
        # The compute host whose service adopts it; without it, the
        # service that has the object (docs/deployment.md).
        "host": types.host,
    },
    "required": ["name", "driver", "hypervisor_ref"],
    "additionalProperties": False,
}, "Adopt an existing hypervisor object (administrators only).")

spawn = types.envelope("server", {
    "type": "object",
    "properties": {
        "name": types.name,
        "snapshot_id": types.uuid,
        "linked": types.boolean,
        "power_on": types.boolean,
        # Bare metal only: the node to spawn on (its id or name); without
        # it, the first free enrolled node (docs/baremetal.md).
        "node": {"type": "string", "minLength": 1, "maxLength": 255,
                 "pattern": r"^[^\x00-\x1f\x7f-\x9f]+$",
                 "x-error": "must be a bare-metal node's id or name (1-255 "
                            "characters without control characters)"},
    },
    "required": ["name", "snapshot_id"],
    "additionalProperties": False,
}, "Spawn a new server from a snapshot.")

create = {"oneOf": [adopt, spawn]}

revert = types.envelope("revert", {
    "type": "object",
    "properties": {
        "snapshot_id": types.uuid,
        "power_on": types.boolean,
        "queue": server_snapshots.queue,
    },
    "required": ["snapshot_id"],
    "additionalProperties": False,
}, "Revert the server in place to one of its snapshots.")

# Bare metal only (docs/baremetal.md): the body is an empty object.
abort_snapshot = types.envelope("abort_snapshot", {
    "type": "object", "properties": {}, "additionalProperties": False,
}, "Give up a bare-metal snapshot that waits or has failed.")

retry_snapshot = types.envelope("retry_snapshot", {
    "type": "object", "properties": {}, "additionalProperties": False,
}, "Take a failed bare-metal snapshot again.")

actions = {"revert": revert, "abort_snapshot": abort_snapshot,
           "retry_snapshot": retry_snapshot}

index_query = {
    "type": "object",
    "properties": {
        "all_projects": types.query_bool,
        "limit": types.query_limit,
        "marker": types.query_uuid,
        "sort_key": {"type": "string", "enum": list(server_obj.SORT_KEYS)},
        "sort_dir": types.query_sort_dir,
        "status": {"type": "string", "enum": list(states.SERVER_STATUSES)},
    },
    "additionalProperties": False,
}

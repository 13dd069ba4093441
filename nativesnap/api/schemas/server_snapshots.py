"""Request schemas of /v1/servers/{server_id}/snapshots and /v1/snapshots."""

from nativesnap.api.schemas import parameter_types as types
from nativesnap.common import states
from nativesnap.objects import image as image_obj
from nativesnap.objects import snapshot as snapshot_obj

create = types.envelope("snapshot", {
    "type": "object",
    "properties": {
        "name": types.name,
        "description": types.description,
        "memory": types.boolean,
        "quiesce": types.quiesce,
        "kind": types.kind,
        "include_volumes": types.boolean,
    },
    "required": ["name"],
    "additionalProperties": False,
}, "Snapshot the server.")

export = types.envelope("export", {
    "type": "object",
    "properties": {
        "image_name": types.name,
        "disk_format": {"type": "string", "enum": list(image_obj.DISK_FORMATS)},
        # An image of the image service the caller made for it (Glance).
        "image_ref": types.uuid,
    },
    "required": ["image_name"],
    "additionalProperties": False,
}, "Export the snapshot's disk state as an image into the image store.")

actions = {"export": export}

index_query = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": list(states.SNAPSHOT_STATUSES)},
        "limit": types.query_limit,
        "marker": types.query_uuid,
        "sort_key": {"type": "string", "enum": list(snapshot_obj.SORT_KEYS)},
        "sort_dir": types.query_sort_dir,
    },
    "additionalProperties": False,
}

all_index_query = {
    "type": "object",
    "properties": dict(index_query["properties"],
                       all_projects=types.query_bool),
    "additionalProperties": False,
}

"""Request schemas of /v1/servers/{server_id}/snapshots and /v1/snapshots."""

from nativesnap.api.schemas import parameter_types as types
from nativesnap.common import states
from nativesnap.objects import image as image_obj
from nativesnap.objects import snapshot as snapshot_obj

# Microversion 1.2 (docs/scheduler.md): a busy server's mutation waits in its
# queue instead of answering 409; before 1.2, sending it is a 400.
queue = {"type": "boolean",
         "description": "Since microversion 1.2: if the server is busy, wait "
                        "in its queue instead of 409."}

create = types.envelope("snapshot", {
    "type": "object",
    "properties": {
        "name": types.name,
        "description": types.description,
        "memory": types.boolean,
        "quiesce": types.quiesce,
        "kind": types.kind,
        "include_volumes": types.boolean,
        "queue": queue,
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

# Microversion 1.2: ?queue=true waits in a busy server's queue.
delete_query = {
    "type": "object",
    "properties": {"queue": dict(types.query_bool, description=(
        "Since microversion 1.2: if the server is busy, wait in its queue "
        "instead of 409."))},
    "additionalProperties": False,
}

all_index_query = {
    "type": "object",
    "properties": dict(index_query["properties"],
                       all_projects=types.query_bool),
    "additionalProperties": False,
}

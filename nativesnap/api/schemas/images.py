"""Request schemas of /v1/images."""

from nativesnap.api.schemas import parameter_types as types
from nativesnap.common import states
from nativesnap.objects import image as image_obj

index_query = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": list(states.IMAGE_STATUSES)},
        "snapshot_id": types.query_uuid,
        "server_id": types.query_uuid,
        "all_projects": types.query_bool,
        "limit": types.query_limit,
        "marker": types.query_uuid,
        "sort_key": {"type": "string", "enum": list(image_obj.SORT_KEYS)},
        "sort_dir": types.query_sort_dir,
    },
    "additionalProperties": False,
}

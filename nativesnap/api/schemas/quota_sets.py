"""Request schemas of /v1/os-quota-sets/{project_id} (Nova's and Cinder's
shape)."""

from nativesnap.api.schemas import parameter_types as types

# -1 is unlimited; the database keeps a 32-bit integer.
_limit = {"type": "integer", "minimum": -1, "maximum": 2 ** 31 - 1}

update = types.envelope("quota_set", {
    "type": "object",
    "properties": {
        "snapshots": dict(_limit, description="Snapshots of the project "
                                              "(-1: unlimited)."),
        "snapshots_per_server": dict(_limit, description="Snapshots of each "
                                                         "of its servers "
                                                         "(-1: unlimited)."),
    },
    "additionalProperties": False,
    "minProperties": 1,
}, "Set a project's snapshot quotas (administrators).")

show_query = {
    "type": "object",
    "properties": {"usage": types.query_bool},
    "additionalProperties": False,
}

# The path's project id: keystone's ids are 32 hexadecimal digits, noauth2's
# any name, so it is not a UUID as every other path id is.
project_id = types.project_id

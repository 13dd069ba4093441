"""Building blocks shared by the request schemas."""

from nativesnap.common import states

uuid = {
    "type": "string",
    "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
               "[0-9a-fA-F]{12}$",
    "x-error": "must be a UUID (8-4-4-4-12 hexadecimal digits)",
}

# 1-255 characters, no control characters (Unicode's Cc: C0, DEL and C1), no
# leading or trailing white space.
# Anything else (XML, shell or path characters included) is allowed: names are
# labels and never reach a path, a command line or XML unescaped.
name = {
    "type": "string",
    "minLength": 1,
    "maxLength": 255,
    "pattern": r"^(?![\s])[^\x00-\x1f\x7f-\x9f]*(?<![\s])$",
    "x-error": "must be 1-255 characters without control characters or leading "
               "or trailing white space",
}

description = {
    "type": ["string", "null"],
    "maxLength": 1024,
    "pattern": r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$",
    "x-error": "must be at most 1024 characters without control characters",
}

boolean = {"type": "boolean"}

project_id = {
    "type": "string",
    "minLength": 1,
    "maxLength": 255,
    "pattern": r"^[A-Za-z0-9_.@-]+$",
    "x-error": "must be 1-255 characters of letters, digits and _ . @ -",
}

quiesce = {"type": "string", "enum": list(states.QUIESCE_MODES)}
kind = {"type": ["string", "null"], "enum": list(states.KINDS) + [None]}

# Query-string values arrive as strings.
query_limit = {"type": "string", "pattern": "^(0|[1-9][0-9]{0,8})$",
               "x-error": "must be a non-negative integer"}
query_uuid = dict(uuid)
query_bool = {"type": "string",
              "enum": ["1", "0", "true", "false", "True", "False", "yes", "no"]}
query_sort_dir = {"type": "string", "enum": ["asc", "desc"]}


def envelope(key, body, description_=None):
    """``{key: body}`` and nothing else."""
    schema = {
        "type": "object",
        "properties": {key: body},
        "required": [key],
        "additionalProperties": False,
    }
    if description_:
        schema["description"] = description_
    return schema

# A compute service's host name ([DEFAULT] host of its nativesnap-compute).
host = {"type": "string", "minLength": 1, "maxLength": 255,
        "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        "x-error": "must be a compute host's name (letters, digits, '.', '_' "
                   "and '-', 1-255 characters)"}

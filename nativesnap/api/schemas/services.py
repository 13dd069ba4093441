"""Request schemas of /v1/os-services."""

from nativesnap.api.schemas import parameter_types as types

update = types.envelope("service", {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["enabled", "disabled"]},
        # Why an operator disabled it: shown to users whose requests the
        # disabled host refuses.
        "disabled_reason": {"type": ["string", "null"], "maxLength": 255,
                            "pattern": r"^[^\x00-\x1f\x7f-\x9f]*$",
                            "x-error": "must be at most 255 characters "
                                       "without control characters"},
    },
    "required": ["status"],
    "additionalProperties": False,
}, "Disable a compute service (with a reason) or enable it again.")

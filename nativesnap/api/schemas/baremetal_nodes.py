"""Request schemas of /v1/baremetal/nodes.

URLs are http:// or https:// only, without user:password@ (credentials go
in their own write-only fields, so that no view ever shows one): a pattern
the validator enforces, plus ``format: uri`` for clients reading the
OpenAPI document. Secrets are checked with messages that never echo them.
"""

from nativesnap.api.schemas import parameter_types as types
from nativesnap.objects import baremetal_node as node_obj

# RFC 3986 characters: an authority (host, IPv4, [IPv6], port) without
# userinfo, then an optional path, query and fragment.
_URL_PATTERN = (r"^https?://[A-Za-z0-9._~%:\[\]-]+"
                r"(?:[/?#][A-Za-z0-9._~%!$&'()*+,;=:@/?#\[\]-]*)?$")


def _url(example):
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": 2048,
        "pattern": _URL_PATTERN,
        "format": "uri",
        "x-error": "must be an http:// or https:// URL without user:password@ "
                   f"(e.g. {example})",
    }


def _secret(min_length, max_length, what):
    return {
        "type": "string",
        "minLength": min_length,
        "maxLength": max_length,
        "pattern": r"^[^\x00-\x1f\x7f]*$",
        "writeOnly": True,
        "x-error": f"must be {min_length}-{max_length} characters without "
                   f"control characters ({what}; it is never shown back)",
    }


def _label(what, max_length=255):
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": max_length,
        "pattern": r"^[^\x00-\x1f\x7f-\x9f]+$",
        "x-error": f"must be 1-{max_length} characters without control "
                   f"characters ({what})",
    }


root_device_hint = {
    "type": "object",
    "description": "Which disk is the root device, when not the first block "
                   "device of at least 4 GiB; every hint given must match.",
    "properties": {
        "serial": _label("the disk's serial number"),
        "wwn": _label("the disk's World Wide Name"),
        "size": {"type": "integer", "minimum": 1, "maximum": 1048576,
                 "description": "Size in GiB."},
        "name": _label("a device path such as /dev/sda"),
    },
    "additionalProperties": False,
    "minProperties": 1,
}

# Only for interface 'redfish'.
REDFISH_KEYS = ("address", "system_id", "username", "password", "verify_ca")

power = {
    "type": "object",
    "description": "How nativesnap powers the node: 'none' (the default: "
                   "it never does) or 'redfish' through its BMC.",
    "properties": {
        "interface": {"type": "string",
                      "enum": list(node_obj.POWER_INTERFACES)},
        "address": _url("https://10.0.0.9"),
        "system_id": _label("the Redfish system's id, e.g. "
                            "/redfish/v1/Systems/1"),
        "username": _label("the BMC user"),
        "password": _secret(1, 1024, "the BMC password"),
        "verify_ca": types.boolean,
    },
    "required": ["interface"],
    "additionalProperties": False,
    "if": {"properties": {"interface": {"const": "redfish"}},
           "required": ["interface"]},
    "then": {"required": ["address", "system_id"]},
    "else": {
        "not": {"anyOf": [{"required": [key]} for key in REDFISH_KEYS]},
        "x-error": "holds only 'interface' unless interface is 'redfish'; "
                   f"{', '.join(REDFISH_KEYS)} are Redfish settings",
    },
}

create = types.envelope("node", {
    "type": "object",
    "properties": {
        "name": types.name,
        "agent_url": _url("https://10.0.0.5:9999"),
        "agent_token": _secret(16, 4096, "the agent's token"),
        "root_device_hint": root_device_hint,
        "power": power,
    },
    "required": ["name", "agent_url", "agent_token"],
    "additionalProperties": False,
}, "Enrol a bare-metal node (administrators only).")

# What a node's agent sends (nativesnap/agent/heartbeat.py): where it answers
# now, and its version. Flat, as the agent sends it (no envelope).
heartbeat = {
    "type": "object",
    "description": "A heartbeat of the node's agent (X-Agent-Token).",
    "properties": {
        "agent_url": _url("https://10.0.0.5:9999"),
        "agent_version": _label("the agent's version", max_length=64),
    },
    "required": ["agent_url", "agent_version"],
    "additionalProperties": False,
}

index_query = {
    "type": "object",
    "properties": {
        "limit": types.query_limit,
        "marker": types.query_uuid,
        "sort_key": {"type": "string", "enum": list(node_obj.SORT_KEYS)},
        "sort_dir": types.query_sort_dir,
    },
    "additionalProperties": False,
}

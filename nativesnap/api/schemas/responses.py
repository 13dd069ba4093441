"""Schemas of the API's answers, for the OpenAPI document (and the tests that
check real answers against it)."""

from nativesnap.common import states
from nativesnap.objects import fields
from nativesnap.objects import policy as policy_obj
from nativesnap.objects import queued_request as queued_obj

_nullable_str = {"type": ["string", "null"]}
_nullable_progress = {"type": ["integer", "null"], "minimum": 0, "maximum": 100}
_nullable_int = {"type": ["integer", "null"], "minimum": 0}
_links = {"type": "array", "items": {
    "type": "object", "required": ["rel", "href"],
    "properties": {"rel": {"type": "string"}, "href": {"type": "string"},
                   "type": {"type": "string"}}}}
_fault_detail = {"type": ["object", "null"], "required": ["code", "message"],
                 "properties": {"code": {"type": "integer"},
                                "message": {"type": "string"}}}

fault = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "additionalProperties": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
    },
    "description": "Nova's fault body, e.g. {\"itemNotFound\": {\"code\": 404, "
                   "\"message\": \"...\"}}.",
}

queued_request = {
    "type": "object",
    "required": ["id", "action", "snapshot_id", "origin", "created_at",
                 "expires_at"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "action": {"type": "string", "enum": list(queued_obj.ACTIONS)},
        "snapshot_id": _nullable_str,
        "origin": {"type": "string",
                   "enum": [queued_obj.USER, queued_obj.SCHEDULER]},
        "created_at": _nullable_str,
        "expires_at": _nullable_str,
    },
    "additionalProperties": False,
}

server = {
    "type": "object",
    "required": ["id", "name", "project_id", "driver", "hypervisor_ref", "host",
                 "status", "task_state", "origin", "capabilities", "links"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "name": {"type": "string"},
        "project_id": {"type": "string"},
        "driver": {"type": "string"},
        "hypervisor_ref": {"type": "string"},
        "host": {"type": "string"},
        "status": {"type": "string", "enum": list(states.SERVER_STATUSES)},
        "task_state": {"type": ["string", "null"],
                       "enum": list(states.TASK_STATES) + [None]},
        "origin": {"type": "string", "enum": list(states.ORIGINS)},
        "source_snapshot_id": _nullable_str,
        "linked": {"type": "boolean"},
        "flatten_progress": _nullable_progress,
        "provision_state": {
            "type": ["string", "null"],
            "enum": list(states.PROVISION_STATES) + [None],
            "description": "A bare-metal server's provision state "
                           "(docs/baremetal.md); null for other drivers."},
        "capabilities": {"type": "object", "properties": {
            name: {"type": "boolean"} for name in fields.CAPABILITIES}},
        "fault": _fault_detail,
        "created_at": _nullable_str,
        "updated_at": _nullable_str,
        "links": _links,
        "queued": {"type": "array", "items": queued_request,
                   "description": "Since microversion 1.2: the requests "
                                  "waiting for the server, oldest first."},
    },
}

image = {
    "type": "object",
    "required": ["id", "name", "disk_format", "status"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "name": {"type": "string"},
        "project_id": {"type": "string"},
        "snapshot_id": {"type": "string", "format": "uuid"},
        "server_id": _nullable_str,
        "backend": {"type": "string", "enum": ["local", "glance"]},
        "disk_format": {"type": "string"},
        "status": {"type": "string", "enum": list(states.IMAGE_STATUSES)},
        "progress": {"type": "integer", "minimum": 0, "maximum": 100},
        "size_bytes": _nullable_int,
        "sha256": _nullable_str,
        "location": _nullable_str,
        "fault": _fault_detail,
        "flatten_progress": _nullable_progress,
        "fallback_reason": _nullable_str,
        "created_at": _nullable_str,
        "updated_at": _nullable_str,
        "links": _links,
    },
}

snapshot = {
    "type": "object",
    "required": ["id", "server_id", "project_id", "name", "status", "progress",
                 "memory", "is_current", "links"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "server_id": {"type": "string", "format": "uuid"},
        "project_id": {"type": "string"},
        "name": {"type": "string"},
        "description": _nullable_str,
        "status": {"type": "string", "enum": list(states.SNAPSHOT_STATUSES)},
        "progress": {"type": "integer", "minimum": 0, "maximum": 100},
        "kind": {"type": ["string", "null"], "enum": list(states.KINDS) + [None]},
        "memory": {"type": "boolean"},
        "quiesce": {"type": "string", "enum": list(states.QUIESCE_MODES)},
        "consistency": {"type": ["string", "null"],
                        "enum": list(states.CONSISTENCIES) + [None]},
        "parent_id": _nullable_str,
        "is_current": {"type": "boolean"},
        "size_bytes": _nullable_int,
        "frozen_ms": _nullable_int,
        "paused_ms": _nullable_int,
        "volumes": {"type": "array", "items": {"type": "object"}},
        "disks": {"type": "array", "items": {"type": "object"}},
        "fault": _fault_detail,
        "created_at": _nullable_str,
        "updated_at": _nullable_str,
        "links": _links,
        "images": {"type": "array", "items": image,
                   "description": "Since microversion 1.1."},
        "policy_id": {"type": ["string", "null"],
                      "description": "Since microversion 1.2: the snapshot "
                                     "policy that took it (null: a person "
                                     "did)."},
        "scheduled_at": {"type": ["string", "null"],
                         "description": "Since microversion 1.2: the "
                                        "schedule slot it was taken for."},
    },
}

assisted_snapshot = {
    "type": "object",
    "required": ["id", "volumeId"],
    "properties": {
        "id": {"type": ["string", "null"],
               "description": "create_info.id as Cinder sent it, or null."},
        "volumeId": {"type": "string", "format": "uuid"},
    },
}

volume_operation = {
    "type": "object",
    "required": ["id", "action", "status", "volume_id", "snapshot_id",
                 "requested_by", "started_at"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "action": {"type": "string", "enum": list(states.VOLUME_OP_ACTIONS)},
        "status": {"type": "string", "enum": list(states.VOLUME_OP_STATUSES)},
        "volume_id": {"type": "string"},
        "snapshot_id": {"type": "string", "description": "Cinder's snapshot id."},
        "server_id": _nullable_str,
        "disk": _nullable_str,
        "host": {"type": "string"},
        "requested_by": {"type": "object", "properties": {
            "user_id": _nullable_str, "project_id": _nullable_str,
            "request_id": _nullable_str}},
        "request": {"type": ["object", "null"],
                    "description": "create_info or delete_info as received."},
        "files": {"type": ["object", "null"],
                  "description": "The files involved and the chain afterwards."},
        "callback": {"type": ["object", "null"],
                     "description": "The status update sent to Cinder and "
                                    "whether it arrived."},
        "started_at": {"type": "string"},
        "finished_at": _nullable_str,
        "duration_ms": _nullable_int,
        "fault": _fault_detail,
    },
}

baremetal_node = {
    "type": "object",
    "description": "An enrolled bare-metal node; its agent token and BMC "
                   "password are write-only and never shown.",
    "required": ["id", "name", "agent_url", "root_device_hint", "power",
                 "last_heartbeat_at", "agent_version", "server_id",
                 "created_at", "updated_at", "links"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "name": {"type": "string"},
        "agent_url": {"type": "string"},
        "root_device_hint": {"type": ["object", "null"], "properties": {
            "serial": {"type": "string"}, "wwn": {"type": "string"},
            "size": {"type": "integer"}, "name": {"type": "string"}}},
        "power": {
            "type": "object",
            "required": ["interface", "address", "system_id", "username",
                         "verify_ca"],
            "properties": {
                "interface": {"type": "string", "enum": ["none", "redfish"]},
                "address": _nullable_str,
                "system_id": _nullable_str,
                "username": _nullable_str,
                "verify_ca": {"type": "boolean"},
            },
            "additionalProperties": False,
        },
        "last_heartbeat_at": _nullable_str,
        "agent_version": _nullable_str,
        "server_id": {"type": ["string", "null"],
                      "description": "The server adopted on the node."},
        "created_at": _nullable_str,
        "updated_at": _nullable_str,
        "links": _links,
    },
    "additionalProperties": False,
}

compute_service = {
    "type": "object",
    "description": "A compute service in the registry (docs/deployment.md).",
    "required": ["id", "host", "binary", "drivers", "host_free_drivers",
                 "state", "status", "disabled_reason", "rpc_version",
                 "last_seen_at", "created_at", "updated_at"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "host": {"type": "string"},
        "binary": {"type": "string"},
        "drivers": {"type": "array", "items": {"type": "string"}},
        "host_free_drivers": {"type": "array", "items": {"type": "string"},
                              "description": "Drivers whose servers this "
                                             "service shares with others."},
        "state": {"type": "string", "enum": ["up", "down"]},
        "status": {"type": "string", "enum": ["enabled", "disabled"]},
        "disabled_reason": _nullable_str,
        "rpc_version": _nullable_str,
        "last_seen_at": _nullable_str,
        "created_at": _nullable_str,
        "updated_at": _nullable_str,
    },
    "additionalProperties": False,
}

_keep = {"type": "integer", "minimum": 0}

policy_outcome = {
    "type": ["object", "null"],
    "description": "What the last run did for the server (null: no run "
                   "yet).",
    "properties": {
        "at": _nullable_str,
        "taken": _nullable_str,
        "kept": {"type": "array", "items": {"type": "object", "properties": {
            "snapshot_id": {"type": "string"}, "rule": {"type": "string"}}}},
        "pruned": {"type": "array", "items": {"type": "string"}},
        "skipped": {"type": "array", "items": {"type": "object", "properties": {
            "snapshot_id": _nullable_str, "reason": {"type": "string"}}}},
        "error": _nullable_str,
    },
}

snapshot_policy = {
    "type": "object",
    "description": "A snapshot policy: a schedule, what to take, what to "
                   "keep, and its runs per attached server.",
    "required": ["id", "name", "description", "project_id", "user_id",
                 "interval_minutes", "cron", "timezone", "memory", "quiesce",
                 "include_volumes", "name_template", "enabled", "created_at",
                 "updated_at", "last_run", "next_run", "servers", "links"]
                + list(policy_obj.RETENTION),
    "properties": dict({
        "id": {"type": "string", "format": "uuid"},
        "name": {"type": "string"},
        "description": _nullable_str,
        "project_id": {"type": "string"},
        "user_id": _nullable_str,
        "interval_minutes": {"type": ["integer", "null"], "minimum": 1},
        "cron": _nullable_str,
        "timezone": {"type": "string"},
        "memory": {"type": "boolean"},
        "quiesce": {"type": "string", "enum": list(states.QUIESCE_MODES)},
        "include_volumes": {"type": "boolean"},
        "name_template": {"type": "string"},
        "enabled": {"type": "boolean"},
        "created_at": _nullable_str,
        "updated_at": _nullable_str,
        "last_run": _nullable_str,
        "next_run": {"type": ["string", "null"],
                     "description": "The next slot after now (null: the "
                                    "policy is disabled)."},
        "servers": {"type": "array", "items": {
            "type": "object",
            "required": ["server_id", "attached_at", "last_run", "next_run",
                         "outcome"],
            "properties": {
                "server_id": {"type": "string", "format": "uuid"},
                "attached_at": _nullable_str,
                "last_run": _nullable_str,
                "next_run": _nullable_str,
                "outcome": policy_outcome,
            },
            "additionalProperties": False}},
        "links": _links,
    }, **{rule: _keep for rule in policy_obj.RETENTION}),
    "additionalProperties": False,
}

_brief = {"snapshot_id": {"type": "string", "format": "uuid"},
          "name": {"type": "string"}, "scheduled_at": _nullable_str}

prune_plan = {
    "type": "array",
    "description": "Per server: what the policy's retention keeps (and by "
                   "which rule), removes, and skips (with why).",
    "items": {
        "type": "object",
        "required": ["server_id", "keep", "remove", "skip"],
        "properties": {
            "server_id": {"type": "string", "format": "uuid"},
            "keep": {"type": "array", "items": {
                "type": "object", "required": list(_brief) + ["rule"],
                "properties": dict(_brief, rule={"type": "string"})}},
            "remove": {"type": "array", "items": {
                "type": "object", "required": list(_brief),
                "properties": _brief}},
            "skip": {"type": "array", "items": {
                "type": "object", "required": ["snapshot_id", "reason"],
                "properties": {"snapshot_id": _nullable_str,
                               "reason": {"type": "string"}}}},
        },
    },
}

_quota_value = {"oneOf": [
    {"type": "integer", "minimum": -1},
    {"type": "object", "required": ["limit", "in_use"],
     "properties": {"limit": {"type": "integer", "minimum": -1},
                    "in_use": {"type": ["integer", "null"], "minimum": 0}}},
]}

quota_set = {
    "type": "object",
    "description": "A project's limits (-1: unlimited); with usage=true each "
                   "is {\"limit\", \"in_use\"} (in_use of "
                   "snapshots_per_server is null: it is per server).",
    "required": ["id", "snapshots", "snapshots_per_server"],
    "properties": {"id": {"type": "string"}, "snapshots": _quota_value,
                   "snapshots_per_server": _quota_value},
    "additionalProperties": False,
}

version = {
    "type": "object",
    "required": ["id", "status", "version", "min_version", "links"],
    "properties": {"id": {"type": "string"}, "status": {"type": "string"},
                   "version": {"type": "string"}, "min_version": {"type": "string"},
                   "updated": {"type": "string"}, "links": _links,
                   "media-types": {"type": "array"}},
}


def _obj(**props):
    return {"type": "object", "required": list(props), "properties": props}


# (controller method name, success code) -> answer schema
BY_OPERATION = {
    ("VersionsController.index", 200): _obj(versions={"type": "array",
                                                      "items": version}),
    ("VersionsController.show", 200): _obj(version=version),
    ("OpenAPIController.show", 200): {"type": "object"},
    ("ServersController.index", 200): dict(
        _obj(servers={"type": "array", "items": server}),
        properties={"servers": {"type": "array", "items": server},
                    "servers_links": _links}),
    ("ServersController.show", 200): _obj(server=server),
    ("ServersController.create", 201): _obj(server=server),
    ("ServersController.create", 202): _obj(server=server),
    ("ServerSnapshotsController.index", 200): dict(
        _obj(snapshots={"type": "array", "items": snapshot}),
        properties={"snapshots": {"type": "array", "items": snapshot},
                    "snapshots_links": _links}),
    ("SnapshotsController.index", 200): dict(
        _obj(snapshots={"type": "array", "items": snapshot}),
        properties={"snapshots": {"type": "array", "items": snapshot},
                    "snapshots_links": _links}),
    ("ServerSnapshotsController.create", 202): _obj(snapshot=snapshot),
    ("ServerSnapshotsController.show", 200): _obj(snapshot=snapshot),
    ("ServerSnapshotsController.delete", 202): _obj(snapshot=snapshot),
    ("ServerSnapshotsController.action", 202): _obj(image=image),
    ("ImagesController.index", 200): dict(
        _obj(images={"type": "array", "items": image}),
        properties={"images": {"type": "array", "items": image},
                    "images_links": _links}),
    ("ImagesController.show", 200): _obj(image=image),
    ("BaremetalNodesController.index", 200): dict(
        _obj(nodes={"type": "array", "items": baremetal_node}),
        properties={"nodes": {"type": "array", "items": baremetal_node},
                    "nodes_links": _links}),
    ("BaremetalNodesController.show", 200): _obj(node=baremetal_node),
    ("BaremetalNodesController.create", 201): _obj(node=baremetal_node),
    ("ServicesController.index", 200): _obj(
        services={"type": "array", "items": compute_service}),
    ("ServicesController.update", 200): _obj(service=compute_service),
    ("SnapshotPoliciesController.index", 200): _obj(
        snapshot_policies={"type": "array", "items": snapshot_policy}),
    ("SnapshotPoliciesController.show", 200): _obj(
        snapshot_policy=snapshot_policy),
    ("SnapshotPoliciesController.create", 201): _obj(
        snapshot_policy=snapshot_policy),
    ("SnapshotPoliciesController.update", 200): _obj(
        snapshot_policy=snapshot_policy),
    ("SnapshotPoliciesController.action", 200): _obj(prune=prune_plan),
    ("SnapshotPoliciesController.action", 202): _obj(prune=prune_plan),
    ("ServerSnapshotPoliciesController.index", 200): _obj(
        snapshot_policies={"type": "array", "items": snapshot_policy}),
    ("ServerSnapshotPoliciesController.create", 200): _obj(
        snapshot_policy=snapshot_policy),
    ("QuotaSetsController.show", 200): _obj(quota_set=quota_set),
    ("QuotaSetsController.update", 200): _obj(quota_set=quota_set),
    ("AssistedVolumeSnapshotsController.create", 200): _obj(
        snapshot=assisted_snapshot),
    ("NovaAssistedVolumeSnapshotsController.create", 200): _obj(
        snapshot=assisted_snapshot),
    ("AssistedVolumeSnapshotsController.index", 200): dict(
        _obj(operations={"type": "array", "items": volume_operation}),
        properties={"operations": {"type": "array", "items": volume_operation},
                    "operations_links": _links}),
}

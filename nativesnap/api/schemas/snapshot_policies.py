"""Request schemas of /v1/snapshot-policies and of the attachments of
policies to servers (/v1/servers/{server_id}/snapshot-policies).

What a schema can say is said here, so the OpenAPI document tells a client
(and a fuzzer) what a valid policy is: exactly one schedule on create, at
most one on update, and some retention rule above 0. What it cannot say (a
cron expression croniter accepts, a time zone zoneinfo knows, the
placeholders of a name template) is checked by nativesnap.scheduler.api,
which names the field as these messages do."""

import itertools

from nativesnap.api.schemas import parameter_types as types
from nativesnap.objects import policy as policy_obj

SCHEDULE = ("interval_minutes", "interval_hours", "cron")
# The longest interval: a year (366 days); a longer one never runs.
MAX_INTERVAL_MINUTES = 366 * 24 * 60

_text = r"^[^\x00-\x1f\x7f-\x9f]+$"
_keep = {"type": "integer", "minimum": 0, "maximum": 10000}

_properties = dict({
    "name": types.name,
    "description": types.description,
    "interval_minutes": {"type": "integer", "minimum": 1,
                         "maximum": MAX_INTERVAL_MINUTES,
                         "description": "Every N minutes, on the multiples "
                                        "of N counted from the Unix epoch "
                                        "in UTC."},
    "interval_hours": {"type": "integer", "minimum": 1,
                       "maximum": MAX_INTERVAL_MINUTES // 60,
                       "description": "Every N hours (kept as "
                                      "interval_minutes)."},
    "cron": {"type": "string", "minLength": 1, "maxLength": 255,
             "pattern": _text,
             "x-error": "must be a cron expression of five fields (minute "
                        "hour day-of-month month day-of-week)",
             "description": "A five-field cron expression, evaluated in "
                            "timezone."},
    "timezone": {"type": "string", "minLength": 1, "maxLength": 64,
                 "pattern": r"^[A-Za-z0-9_+./-]+$",
                 "x-error": "must be an IANA time zone name such as UTC or "
                            "Europe/Berlin",
                 "description": "An IANA time zone name (default UTC)."},
    "memory": types.boolean,
    "quiesce": types.quiesce,
    "include_volumes": types.boolean,
    "name_template": {"type": "string", "minLength": 1, "maxLength": 255,
                      "pattern": _text,
                      "x-error": "must be 1-255 characters without control "
                                 "characters",
                      "description": "The name of the snapshots taken: "
                                     "{policy}, {server} and {time:<strftime "
                                     "format>} (in timezone) are replaced."},
    "enabled": types.boolean,
}, **{rule: _keep for rule in policy_obj.RETENTION})

# Conditions on the whole object, each with its own message. A "not" with an
# "x-error" is the one form whose message validation.py words as we say.
_some_schedule = {
    "not": {"properties": {name: False for name in SCHEDULE}},
    "x-error": "needs a schedule: one of interval_minutes, interval_hours "
               "or cron",
}
_one_schedule = {
    "not": {"anyOf": [{"required": list(pair)}
                      for pair in itertools.combinations(SCHEDULE, 2)]},
    "x-error": "may have only one schedule: one of interval_minutes, "
               "interval_hours or cron",
}
_some_retention = {
    "not": {"properties": {rule: {"not": {"type": "integer", "minimum": 1}}
                           for rule in policy_obj.RETENTION}},
    "x-error": "retention: every keep_* is 0; keep at least one snapshot "
               "(keep_last, keep_hourly, keep_daily, keep_weekly, "
               "keep_monthly or keep_yearly of 1 or more)",
}

create = types.envelope("snapshot_policy", {
    "type": "object",
    "properties": dict(_properties, project_id=dict(
        types.project_id, description="The project the policy is of "
                                      "(administrators; default: the "
                                      "caller's).")),
    "required": ["name"],
    "additionalProperties": False,
    "allOf": [_some_schedule, _one_schedule, _some_retention],
}, "Create a snapshot policy: a schedule, what to take, what to keep.")

update = types.envelope("snapshot_policy", {
    "type": "object",
    "properties": _properties,
    "additionalProperties": False,
    "minProperties": 1,
    "allOf": [_one_schedule],
}, "Change a snapshot policy: any of the fields of its create. A new "
   "schedule replaces the old one; retention may not become all zeros.")

prune = types.envelope("prune", {
    "type": "object",
    "properties": {
        # Only this server's snapshots; else every attached server's.
        "server_id": types.uuid,
    },
    "additionalProperties": False,
}, "Apply the policy's retention now (dry_run=true: only say what it "
   "would keep and remove).")

actions = {"prune": prune}

index_query = {
    "type": "object",
    "properties": {"all_projects": types.query_bool},
    "additionalProperties": False,
}

action_query = {
    "type": "object",
    "properties": {"dry_run": types.query_bool},
    "additionalProperties": False,
}

attach = {
    "type": "object",
    "properties": {"policy_id": types.uuid},
    "required": ["policy_id"],
    "additionalProperties": False,
    "description": "Attach a snapshot policy of the server's project.",
}

"""The view of a snapshot policy: its schedule, what it takes and keeps, and
per attached server when it ran last, when it runs next and what its last
run did (docs/scheduler.md)."""

import datetime

from nativesnap.api.views import common
from nativesnap.objects import policy as policy_obj


def attachment(attached):
    return {
        "server_id": attached.server_id,
        "attached_at": common.isotime(attached.created_at),
        "last_run": common.isotime(attached.last_run_at),
        "next_run": common.isotime(attached.next_run_at),
        "outcome": attached.outcome,
    }


def show(req, policy, attachments, next_run):
    """``attachments``: the policy's [PolicyAttachment]; ``next_run``: its
    next slot after now (None when it is disabled)."""
    p = policy.as_dict()
    runs = [a.last_run_at for a in attachments if a.last_run_at is not None]
    view = {
        "id": p["id"],
        "name": p["name"],
        "description": p["description"],
        "project_id": p["project_id"],
        "user_id": p["user_id"],
        "interval_minutes": p["interval_minutes"],
        "cron": p["cron"],
        "timezone": p["timezone"],
        "memory": p["memory"],
        "quiesce": p["quiesce"],
        "include_volumes": p["include_volumes"],
        "name_template": p["name_template"],
    }
    view.update((rule, p[rule]) for rule in policy_obj.RETENTION)
    view.update({
        "enabled": p["enabled"],
        "created_at": common.isotime(p["created_at"]),
        "updated_at": common.isotime(p["updated_at"]),
        "last_run": common.isotime(max(runs)) if runs else None,
        "next_run": common.isotime(next_run) if p["enabled"] else None,
        "servers": [attachment(a) for a in sorted(
            attachments, key=lambda a: (a.created_at is None, a.created_at,
                                        a.server_id))],
        "links": common.self_links(req, f"snapshot-policies/{p['id']}"),
    })
    return view


def _plan(plan):
    entry = plan.as_dict()
    for key in ("keep", "remove"):
        for item in entry[key]:
            if isinstance(item.get("scheduled_at"), datetime.datetime):
                item["scheduled_at"] = common.isotime(item["scheduled_at"])
    return entry


def prune(plans):
    """The answer of a prune: one entry per server."""
    return {"prune": [_plan(plan) for plan in plans]}

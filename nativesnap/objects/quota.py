"""Quotas: how many snapshots a project, and each of its servers, may hold.

Limits are the project's own (``quotas`` rows, set by an administrator
through /v1/os-quota-sets) or else ``[quota]``'s defaults; -1 is unlimited.
The check counts every snapshot but those being deleted, queued ones
included, so a queue cannot go past a limit (docs/scheduler.md)."""

from nativesnap.conf import CONF
from nativesnap.db import policies as db
from nativesnap import exception

RESOURCES = ("snapshots", "snapshots_per_server")


def limits(context, project_id):
    """{resource: limit} of the project, defaults filled in."""
    own = db.quota_get_all(context, project_id)
    return {r: own.get(r, getattr(CONF.quota, r)) for r in RESOURCES}


def usage(context, project_id):
    """{resource: in use}; per server, the most any one server holds is not
    kept, so it is reported as null."""
    return {"snapshots": db.snapshot_count(context, project_id=project_id),
            "snapshots_per_server": None}


def set_limits(context, project_id, values):
    db.quota_set(context, project_id, values)


def reset(context, project_id):
    db.quota_destroy_all(context, project_id)


def check_snapshot(context, project_id, server_id, requested=1, credit=0):
    """QuotaExceeded (403) naming the limit when ``requested`` more
    snapshots would pass the project's or the server's limit; ``credit``
    snapshots of the server are on their way out (a prune's deletes)."""
    limit = limits(context, project_id)
    checks = (("snapshots", {"project_id": project_id}, f"project {project_id}"),
              ("snapshots_per_server", {"server_id": server_id},
               f"server {server_id}"))
    for resource, scope, label in checks:
        if limit[resource] < 0:
            continue
        used = db.snapshot_count(context, **scope)
        if used - credit + requested > limit[resource]:
            raise exception.QuotaExceeded(resource=resource,
                                          requested=requested, used=used,
                                          limit=limit[resource], scope=label)

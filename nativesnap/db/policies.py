"""Database access of snapshot policies, their attachments to servers and
the projects' quotas (docs/scheduler.md). Kept apart from db/api.py, the
servers' and snapshots' records; it uses that module's transactions.

The scheduler reads, per run, every attachment of the servers its compute
service owns in one query joined with the policy and the server, and the
policies' snapshots of those servers in a second one: two round trips per
run whatever the number of servers (bench/scheduler.py measures it)."""

from oslo_db import exception as db_exc
from oslo_utils import timeutils
import sqlalchemy as sa

from nativesnap.common import states
from nativesnap.db import api
from nativesnap.db import models
from nativesnap import exception


_row = api.as_dict


# --- policies --------------------------------------------------------------------


def policy_create(context, values):
    now = timeutils.utcnow()
    with api.writer(context) as session:
        row = models.SnapshotPolicy(created_at=now, updated_at=now, **values)
        session.add(row)
        session.flush()
        return _row(row)


def policy_get(context, policy_id):
    with api.reader(context) as session:
        row = session.get(models.SnapshotPolicy, policy_id)
        if row is None:
            raise exception.PolicyNotFound(policy_id=policy_id)
        return _row(row)


def policy_get_all(context, project_id=None, ids=None):
    with api.reader(context) as session:
        query = session.query(models.SnapshotPolicy)
        if project_id is not None:
            query = query.filter_by(project_id=project_id)
        if ids is not None:
            query = query.filter(models.SnapshotPolicy.id.in_(list(ids)))
        return [_row(r) for r in query.order_by(
            models.SnapshotPolicy.created_at, models.SnapshotPolicy.id)]


def policy_update(context, policy_id, values):
    values = dict(values, updated_at=timeutils.utcnow())
    with api.writer(context) as session:
        if session.query(models.SnapshotPolicy).filter_by(
                id=policy_id).update(values, synchronize_session=False) == 0:
            raise exception.PolicyNotFound(policy_id=policy_id)
        return _row(session.get(models.SnapshotPolicy, policy_id,
                                populate_existing=True))


def policy_destroy(context, policy_id):
    """Remove a policy and its attachments; its snapshots stay, with their
    ``policy_id``, and are no longer pruned."""
    with api.writer(context) as session:
        session.query(models.PolicyAttachment).filter_by(
            policy_id=policy_id).delete(synchronize_session=False)
        if session.query(models.SnapshotPolicy).filter_by(
                id=policy_id).delete(synchronize_session=False) == 0:
            raise exception.PolicyNotFound(policy_id=policy_id)


# --- attachments -----------------------------------------------------------------


def attachment_create(context, policy_id, server_id, next_run_at):
    now = timeutils.utcnow()
    try:
        with api.writer(context) as session:
            row = models.PolicyAttachment(
                policy_id=policy_id, server_id=server_id,
                next_run_at=next_run_at, created_at=now, updated_at=now)
            session.add(row)
            session.flush()
            return _row(row)
    except db_exc.DBDuplicateEntry:
        raise exception.PolicyAlreadyAttached(policy_id=policy_id,
                                              server_id=server_id)


def attachment_get_all(context, policy_ids=None, server_id=None):
    with api.reader(context) as session:
        query = session.query(models.PolicyAttachment)
        if policy_ids is not None:
            query = query.filter(
                models.PolicyAttachment.policy_id.in_(list(policy_ids)))
        if server_id is not None:
            query = query.filter_by(server_id=server_id)
        return [_row(r) for r in query.order_by(
            models.PolicyAttachment.created_at,
            models.PolicyAttachment.policy_id)]


def attachment_update(context, policy_id, server_id, values):
    values = dict(values, updated_at=timeutils.utcnow())
    with api.writer(context) as session:
        session.query(models.PolicyAttachment).filter_by(
            policy_id=policy_id, server_id=server_id).update(
            values, synchronize_session=False)


def attachments_update_all(context, policy_id, values):
    """Change every attachment of a policy (a new schedule's next slot, a
    new retention's prune)."""
    values = dict(values, updated_at=timeutils.utcnow())
    with api.writer(context) as session:
        session.query(models.PolicyAttachment).filter_by(
            policy_id=policy_id).update(values, synchronize_session=False)


def attachment_destroy(context, policy_id, server_id):
    with api.writer(context) as session:
        if session.query(models.PolicyAttachment).filter_by(
                policy_id=policy_id, server_id=server_id).delete(
                synchronize_session=False) == 0:
            raise exception.PolicyNotAttached(policy_id=policy_id,
                                              server_id=server_id)


def attachments_of_host(context, host, prune_due=False):
    """(attachment, policy, server) rows of the enabled policies attached to
    ``host``'s servers: what the scheduler looks at on one run (with
    ``prune_due``, only the pairs waiting to be pruned)."""
    attachment, policy, server = (models.PolicyAttachment,
                                  models.SnapshotPolicy, models.Server)
    with api.reader(context) as session:
        rows = session.query(attachment, policy, server).join(
            policy, policy.id == attachment.policy_id).join(
            server, server.id == attachment.server_id).filter(
            server.host == host, policy.enabled.is_(True))
        if prune_due:
            rows = rows.filter(attachment.prune_due.is_(True))
        rows = rows.order_by(attachment.server_id, attachment.created_at).all()
        return [(_row(a), _row(p), _row(s)) for a, p, s in rows]


def snapshots_of_servers(context, server_ids):
    """{server id: [snapshot rows]} of ``server_ids``, 500 servers a query."""
    found = {server_id: [] for server_id in server_ids}
    ids = list(found)
    with api.reader(context) as session:
        for start in range(0, len(ids), 500):
            for row in session.query(models.Snapshot).filter(
                    models.Snapshot.server_id.in_(ids[start:start + 500])):
                found[row.server_id].append(_row(row))
    return found


# --- quotas ----------------------------------------------------------------------


def quota_get_all(context, project_id):
    """{resource: limit} that the project has of its own (not defaults)."""
    with api.reader(context) as session:
        return {r.resource: r.hard_limit for r in session.query(
            models.Quota).filter_by(project_id=project_id)}


def quota_set(context, project_id, limits):
    now = timeutils.utcnow()
    with api.writer(context) as session:
        for resource, limit in limits.items():
            updated = session.query(models.Quota).filter_by(
                project_id=project_id, resource=resource).update(
                {"hard_limit": limit, "updated_at": now},
                synchronize_session=False)
            if not updated:
                session.add(models.Quota(project_id=project_id,
                                         resource=resource, hard_limit=limit,
                                         created_at=now, updated_at=now))


def quota_destroy_all(context, project_id):
    with api.writer(context) as session:
        session.query(models.Quota).filter_by(project_id=project_id).delete(
            synchronize_session=False)


def snapshot_count(context, project_id=None, server_id=None):
    """Snapshots that count against a quota: all but those being deleted."""
    with api.reader(context) as session:
        query = session.query(sa.func.count(models.Snapshot.id)).filter(
            models.Snapshot.status != states.DELETING)
        if project_id is not None:
            query = query.filter(models.Snapshot.project_id == project_id)
        if server_id is not None:
            query = query.filter(models.Snapshot.server_id == server_id)
        return query.scalar()

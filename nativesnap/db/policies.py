"""Database access of snapshot policies, their attachments to servers and
the projects' quotas (docs/scheduler.md). Kept apart from db/api.py, the
servers' and snapshots' records; it uses that module's transactions.

The scheduler reads, per run, the attachments with work (due, or waiting
to be pruned) of the servers its compute service owns, in one query joined
with the policy and the server; the pairs to prune then read their servers'
snapshots as plain rows, 500 servers a query; a run's outcomes are written
in one transaction (bench/scheduler.py measures it)."""

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
    return api.insert(context, models.SnapshotPolicy, values)


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
    try:
        return api.insert(context, models.PolicyAttachment, {
            "policy_id": policy_id, "server_id": server_id,
            "next_run_at": next_run_at})
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


def attachments_of_host(context, host, due_at=None, prune_due=False):
    """(attachment, policy, server) rows of the enabled policies attached to
    ``host``'s servers that have work: due at ``due_at`` (or never run) or
    waiting to be pruned (with ``prune_due``, only those). One query; the
    pairs with nothing to do are not read."""
    attachment, policy, server = (models.PolicyAttachment,
                                  models.SnapshotPolicy, models.Server)
    with api.reader(context) as session:
        rows = session.query(attachment, policy, server).join(
            policy, policy.id == attachment.policy_id).join(
            server, server.id == attachment.server_id).filter(
            server.host == host, policy.enabled.is_(True))
        waiting = attachment.prune_due.is_(True)
        if not prune_due:
            due_at = due_at.replace(tzinfo=None) if due_at.tzinfo else due_at
            waiting = sa.or_(waiting, attachment.next_run_at.is_(None),
                             attachment.next_run_at <= due_at)
        rows = rows.filter(waiting).order_by(attachment.server_id,
                                             attachment.created_at).all()
        return [(_row(a), _row(p), _row(s)) for a, p, s in rows]


def attachments_save(context, changes):
    """Write several attachments' changes in one transaction, one
    executemany per set of columns: ``changes`` [(policy id, server id,
    {column: value})]."""
    table = models.PolicyAttachment.__table__
    now = timeutils.utcnow()
    groups = {}
    for policy_id, server_id, values in changes:
        row = dict(values, updated_at=now, key_policy_id=policy_id,
                   key_server_id=server_id)
        groups.setdefault(tuple(sorted(values)), []).append(row)
    with api.writer(context) as session:
        for columns, rows in groups.items():
            statement = table.update().where(
                table.c.policy_id == sa.bindparam("key_policy_id"),
                table.c.server_id == sa.bindparam("key_server_id")).values(
                {name: sa.bindparam(name)
                 for name in columns + ("updated_at",)})
            session.execute(statement, rows)


# What a prune reads of each snapshot (docs/scheduler.md, "Retention").
PRUNE_COLUMNS = ("id", "server_id", "policy_id", "status", "name",
                 "parent_id", "scheduled_at", "created_at")


def snapshots_of_servers(context, server_ids):
    """{server id: [{column: value} of PRUNE_COLUMNS]} of ``server_ids``'
    snapshots, 500 servers a query, plain rows (no entity per row)."""
    found = {server_id: [] for server_id in server_ids}
    ids = list(found)
    columns = [getattr(models.Snapshot, name) for name in PRUNE_COLUMNS]
    with api.reader(context) as session:
        for start in range(0, len(ids), 500):
            for row in session.execute(sa.select(*columns).where(
                    models.Snapshot.server_id.in_(ids[start:start + 500]))):
                found[row.server_id].append(dict(zip(PRUNE_COLUMNS, row)))
    return found


def snapshots_get(context, snapshot_ids):
    """The whole rows of ``snapshot_ids`` (those that still exist), 500 a
    query, plain rows (no entity per row)."""
    ids, found = list(snapshot_ids), []
    table = models.Snapshot.__table__
    with api.reader(context) as session:
        for start in range(0, len(ids), 500):
            found.extend(dict(row._mapping) for row in session.execute(
                sa.select(table).where(table.c.id.in_(ids[start:start + 500]))))
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

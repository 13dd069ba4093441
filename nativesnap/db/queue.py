"""Database access of the requests that wait for a busy server's turn
(``queued_requests``, docs/scheduler.md). A row is removed in the same
transaction that takes the server's task lock for it, so that after a crash
a request has either started or still waits, never both nor neither."""

import sqlalchemy as sa

from nativesnap.common import states
from nativesnap.db import api
from nativesnap.db import models
from nativesnap import exception


_row = api.as_dict


def create(context, values):
    return api.insert(context, models.QueuedRequest, values)


def get_all(context, server_ids):
    """The queued requests of ``server_ids``, oldest first."""
    with api.reader(context) as session:
        rows = session.query(models.QueuedRequest).filter(
            models.QueuedRequest.server_id.in_(list(server_ids))).order_by(
            models.QueuedRequest.created_at, models.QueuedRequest.id)
        return [_row(r) for r in rows]


def get_by_snapshot(context, snapshot_id):
    with api.reader(context) as session:
        return [_row(r) for r in session.query(models.QueuedRequest).filter_by(
            snapshot_id=snapshot_id)]


def servers_of_host(context, host):
    """Ids of ``host``'s servers that have requests waiting."""
    with api.reader(context) as session:
        rows = session.query(models.QueuedRequest.server_id).join(
            models.Server,
            models.Server.id == models.QueuedRequest.server_id).filter(
            models.Server.host == host).distinct()
        return [r[0] for r in rows]


def destroy(context, request_id):
    """Remove a request; QueuedRequestNotFound when another took it."""
    with api.writer(context) as session:
        if session.query(models.QueuedRequest).filter_by(
                id=request_id).delete(synchronize_session=False) == 0:
            raise exception.QueuedRequestNotFound(request_id=request_id)


def deletes_to_retry(context, host, now, max_attempts):
    """Snapshots of ``host``'s servers left error_deleting whose next retry
    is due."""
    snapshot, server = models.Snapshot, models.Server
    with api.reader(context) as session:
        rows = session.query(snapshot).join(
            server, server.id == snapshot.server_id).filter(
            server.host == host,
            snapshot.status == states.ERROR_DELETING,
            snapshot.delete_attempts < max_attempts,
            sa.or_(snapshot.retry_at.is_(None), snapshot.retry_at <= now)).all()
        return [_row(r) for r in rows]

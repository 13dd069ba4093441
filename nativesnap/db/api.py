"""Database API: the only code that talks SQL. Everything above it passes
versioned objects; everything here takes a context and plain values.

Saves that move state are compare-and-swap: the UPDATE carries the state it
expects in its WHERE clause, and zero rows updated means somebody else moved
first, which is reported as a Conflict rather than silently overwritten.
"""

import threading

from oslo_db import exception as db_exc
from oslo_db.sqlalchemy import enginefacade
from oslo_db.sqlalchemy import utils as sqlalchemyutils
from oslo_log import log as logging
from oslo_utils import timeutils
import sqlalchemy as sa
from sqlalchemy import event

from nativesnap.conf import CONF
from nativesnap.db import models
from nativesnap import exception

LOG = logging.getLogger(__name__)

_LOCK = threading.Lock()
_CONTEXT_MANAGER = None

# Columns a list may be sorted by; anything else is refused with 400.
SNAPSHOT_SORT_KEYS = ("created_at", "updated_at", "name", "status", "id")
SERVER_SORT_KEYS = ("created_at", "updated_at", "name", "status", "id")


def _sqlite_on_connect(dbapi_connection, _record):
    # WAL lets readers run while a task writes; busy_timeout makes writers queue
    # instead of failing with "database is locked" under concurrent tasks.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def get_context_manager():
    global _CONTEXT_MANAGER
    with _LOCK:
        if _CONTEXT_MANAGER is None:
            _CONTEXT_MANAGER = _make_context_manager(CONF.database.connection)
    return _CONTEXT_MANAGER


def _make_context_manager(connection):
    manager = enginefacade.transaction_context()
    manager.configure(connection=connection, sqlite_fk=True,
                      max_retries=CONF.database.max_retries)
    engine = manager.writer.get_engine()
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
        engine.dispose()  # connections made before the listener get the pragmas too
    return manager


def configure(connection):
    """Point the API at another database (tests, nativesnap-manage)."""
    global _CONTEXT_MANAGER
    with _LOCK:
        old = _CONTEXT_MANAGER
        _CONTEXT_MANAGER = _make_context_manager(connection)
    if old is not None:
        old.writer.get_engine().dispose()


def get_engine():
    return get_context_manager().writer.get_engine()


def dispose():
    global _CONTEXT_MANAGER
    with _LOCK:
        if _CONTEXT_MANAGER is not None:
            _CONTEXT_MANAGER.writer.get_engine().dispose()
        _CONTEXT_MANAGER = None


def reader(context):
    return get_context_manager().reader.using(context)


def writer(context):
    """A write transaction; nested calls with the same context join it."""
    return get_context_manager().writer.using(context)


def _to_dict(row):
    return None if row is None else {c.name: getattr(row, c.name)
                                     for c in row.__table__.columns}


def _paginate(session, model, query, sort_key, sort_dir, limit, marker_id,
              marker_not_found):
    if sort_key not in (SNAPSHOT_SORT_KEYS if model is models.Snapshot
                        else SERVER_SORT_KEYS):
        raise exception.InvalidSortKey(key=sort_key, allowed=", ".join(
            SNAPSHOT_SORT_KEYS if model is models.Snapshot else SERVER_SORT_KEYS))
    marker = None
    if marker_id is not None:
        marker = query.filter(model.id == marker_id).one_or_none()
        if marker is None:
            raise marker_not_found
    # id as the final key makes the order total, so pages never repeat or skip a
    # row even when many rows share a created_at.
    keys = [sort_key] if sort_key == "id" else [sort_key, "id"]
    return sqlalchemyutils.paginate_query(
        query, model, limit, keys, marker=marker,
        sort_dirs=[sort_dir] * len(keys)).all()


# --- servers -----------------------------------------------------------------


def server_create(context, values):
    with writer(context) as session:
        row = models.Server()
        row.update(values)
        try:
            session.add(row)
            session.flush()
        except db_exc.DBDuplicateEntry:
            existing = session.query(models.Server).filter_by(
                driver=values["driver"], host=values["host"],
                hypervisor_ref=values["hypervisor_ref"]).one()
            raise exception.AlreadyAdopted(driver=values["driver"],
                                           ref=values["hypervisor_ref"],
                                           server_id=existing.id) from None
        return _to_dict(row)


def server_get(context, server_id):
    with reader(context) as session:
        row = session.get(models.Server, server_id)
        if row is None:
            raise exception.ServerNotFound(server_id=server_id)
        return _to_dict(row)


def server_find_by_ref(context, driver, host, hypervisor_ref):
    with reader(context) as session:
        return _to_dict(session.query(models.Server).filter_by(
            driver=driver, host=host, hypervisor_ref=hypervisor_ref).one_or_none())


def server_get_all(context, project_id=None, host=None, filters=None,
                   sort_key="created_at", sort_dir="desc", limit=None, marker=None):
    with reader(context) as session:
        query = session.query(models.Server)
        if project_id is not None:
            query = query.filter_by(project_id=project_id)
        if host is not None:
            query = query.filter_by(host=host)
        for key, value in (filters or {}).items():
            query = query.filter(getattr(models.Server, key) == value)
        rows = _paginate(session, models.Server, query, sort_key, sort_dir, limit,
                         marker, exception.InvalidMarker(marker=marker))
        return [_to_dict(r) for r in rows]


def server_get_busy(context, host):
    """Servers of ``host`` that a task was running on (start-up recovery)."""
    with reader(context) as session:
        rows = session.query(models.Server).filter(
            models.Server.host == host,
            models.Server.task_state.isnot(None)).all()
        return [_to_dict(r) for r in rows]


def server_update(context, server_id, values, expected_task_state=None,
                  expected_task_id=None, check_task=True):
    """Update a server; with ``check_task`` the row must hold the expected task.

    ``expected_task_state`` may be a single value (None included) or a tuple.
    """
    values = dict(values)
    values["updated_at"] = timeutils.utcnow()
    with writer(context) as session:
        query = session.query(models.Server).filter_by(id=server_id)
        if check_task:
            states = (expected_task_state
                      if isinstance(expected_task_state, (tuple, list))
                      else (expected_task_state,))
            conds = [models.Server.task_state.is_(None) if s is None
                     else models.Server.task_state == s for s in states]
            query = query.filter(sa.or_(*conds))
            if expected_task_id is not None:
                query = query.filter(models.Server.task_id == expected_task_id)
        count = query.update(values, synchronize_session=False)
        row = session.get(models.Server, server_id, populate_existing=True)
        if row is None:
            raise exception.ServerNotFound(server_id=server_id)
        if count == 0:
            if check_task and expected_task_state is None and row.task_state:
                raise exception.ServerBusy(server_id=server_id,
                                           task_state=row.task_state)
            raise exception.UnexpectedTaskState(
                server_id=server_id, expected=expected_task_state,
                actual=row.task_state)
        return _to_dict(row)


def server_destroy(context, server_id):
    """Remove a server record and its snapshot and image records."""
    with writer(context) as session:
        snap_ids = [sid for (sid,) in session.query(models.Snapshot.id).filter_by(
            server_id=server_id)]
        if snap_ids:
            session.query(models.Image).filter(
                models.Image.snapshot_id.in_(snap_ids)).delete(
                synchronize_session=False)
        session.query(models.Snapshot).filter_by(server_id=server_id).delete(
            synchronize_session=False)
        count = session.query(models.Server).filter_by(id=server_id).delete(
            synchronize_session=False)
        if count == 0:
            raise exception.ServerNotFound(server_id=server_id)


def server_get_dependents(context, snapshot_ids):
    """Servers that depend on any of ``snapshot_ids``."""
    if not snapshot_ids:
        return []
    with reader(context) as session:
        # A linked clone reads the snapshot's files for life; any spawn reads
        # them until it has finished.
        rows = session.query(models.Server).filter(
            models.Server.source_snapshot_id.in_(list(snapshot_ids)),
            sa.or_(models.Server.linked.is_(True),
                   models.Server.task_state == "spawning")).all()
        return [_to_dict(r) for r in rows]


# --- snapshots -----------------------------------------------------------------


def snapshot_create(context, values):
    with writer(context) as session:
        row = models.Snapshot()
        row.update(values)
        session.add(row)
        session.flush()
        return _to_dict(row)


def snapshot_get(context, snapshot_id):
    with reader(context) as session:
        row = session.get(models.Snapshot, snapshot_id)
        if row is None:
            raise exception.SnapshotNotFound(snapshot_id=snapshot_id)
        return _to_dict(row)


def snapshot_get_all(context, server_id=None, project_id=None, filters=None,
                     sort_key="created_at", sort_dir="desc", limit=None,
                     marker=None):
    with reader(context) as session:
        query = session.query(models.Snapshot)
        if server_id is not None:
            query = query.filter_by(server_id=server_id)
        if project_id is not None:
            query = query.filter_by(project_id=project_id)
        for key, value in (filters or {}).items():
            query = query.filter(getattr(models.Snapshot, key) == value)
        rows = _paginate(session, models.Snapshot, query, sort_key, sort_dir,
                         limit, marker, exception.InvalidMarker(marker=marker))
        return [_to_dict(r) for r in rows]


def snapshot_get_by_status(context, host, statuses):
    """Snapshots of ``host``'s servers in any of ``statuses`` (recovery)."""
    with reader(context) as session:
        rows = session.query(models.Snapshot).join(
            models.Server, models.Server.id == models.Snapshot.server_id).filter(
            models.Server.host == host,
            models.Snapshot.status.in_(list(statuses))).all()
        return [_to_dict(r) for r in rows]


def snapshot_update(context, snapshot_id, values, expected_status=None):
    """Update a snapshot; with ``expected_status`` only if it still has it."""
    values = dict(values)
    values["updated_at"] = timeutils.utcnow()
    with writer(context) as session:
        query = session.query(models.Snapshot).filter_by(id=snapshot_id)
        if expected_status is not None:
            statuses = (expected_status if isinstance(expected_status, (tuple, list))
                        else (expected_status,))
            query = query.filter(models.Snapshot.status.in_(statuses))
        count = query.update(values, synchronize_session=False)
        row = session.get(models.Snapshot, snapshot_id, populate_existing=True)
        if row is None:
            raise exception.SnapshotNotFound(snapshot_id=snapshot_id)
        if count == 0:
            raise exception.UnexpectedStatus(what="Snapshot", id=snapshot_id,
                                             expected=expected_status,
                                             actual=row.status)
        return _to_dict(row)


def snapshot_reparent(context, server_id, old_parent_id, new_parent_id):
    """Children of a removed snapshot hang under its parent from now on."""
    with writer(context) as session:
        session.query(models.Snapshot).filter_by(
            server_id=server_id, parent_id=old_parent_id).update(
            {"parent_id": new_parent_id}, synchronize_session=False)


def snapshot_destroy(context, snapshot_id, expected_status=None):
    with writer(context) as session:
        query = session.query(models.Snapshot).filter_by(id=snapshot_id)
        if expected_status is not None:
            query = query.filter_by(status=expected_status)
        if query.delete(synchronize_session=False) == 0:
            row = session.get(models.Snapshot, snapshot_id)
            if row is None:
                raise exception.SnapshotNotFound(snapshot_id=snapshot_id)
            raise exception.UnexpectedStatus(what="Snapshot", id=snapshot_id,
                                             expected=expected_status,
                                             actual=row.status)


def snapshot_children(context, snapshot_id):
    with reader(context) as session:
        return [_to_dict(r) for r in session.query(models.Snapshot).filter_by(
            parent_id=snapshot_id)]


# --- images --------------------------------------------------------------------


def image_create(context, values):
    with writer(context) as session:
        row = models.Image()
        row.update(values)
        session.add(row)
        session.flush()
        return _to_dict(row)


def image_update(context, image_id, values):
    values = dict(values)
    values["updated_at"] = timeutils.utcnow()
    with writer(context) as session:
        count = session.query(models.Image).filter_by(id=image_id).update(
            values, synchronize_session=False)
        if count == 0:
            raise exception.ImageNotFound(image_id=image_id)
        return _to_dict(session.get(models.Image, image_id, populate_existing=True))


def image_get_all_by_snapshots(context, snapshot_ids):
    if not snapshot_ids:
        return []
    with reader(context) as session:
        rows = session.query(models.Image).filter(
            models.Image.snapshot_id.in_(list(snapshot_ids))).order_by(
            models.Image.created_at).all()
        return [_to_dict(r) for r in rows]


def image_get_by_status(context, statuses):
    with reader(context) as session:
        return [_to_dict(r) for r in session.query(models.Image).filter(
            models.Image.status.in_(list(statuses)))]


def server_current_snapshot_ids(context, server_ids):
    """{server id: its current snapshot id} for the given servers."""
    if not server_ids:
        return {}
    with reader(context) as session:
        return dict(session.query(models.Server.id,
                                  models.Server.current_snapshot_id).filter(
            models.Server.id.in_(list(server_ids))))

"""Database API: the only code that talks SQL. Everything above it passes
versioned objects; everything here takes a context and plain values.

Saves that move state are compare-and-swap: the UPDATE carries the state it
expects in its WHERE clause, and zero rows updated means somebody else moved
first, which is reported as a Conflict rather than silently overwritten.
"""

import contextlib
import threading

from oslo_db import exception as db_exc
from oslo_db.sqlalchemy import enginefacade
from oslo_db.sqlalchemy import utils as sqlalchemyutils
from oslo_log import log as logging
from oslo_utils import timeutils
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import pool as sa_pool

from nativesnap.common import states
from nativesnap.conf import CONF
from nativesnap.db import models
from nativesnap import exception

LOG = logging.getLogger(__name__)

_LOCK = threading.Lock()
_CONTEXT_MANAGER = None

# Execution option (and session.info key) that marks a write transaction.
_WRITER = "nativesnap_writer"

# Columns a list may be sorted by; anything else is refused with 400.
SNAPSHOT_SORT_KEYS = ("created_at", "updated_at", "name", "status", "id")
SERVER_SORT_KEYS = ("created_at", "updated_at", "name", "status", "id")
# The record of assisted volume snapshots is listed newest first only.
VOLUME_OPERATION_SORT_KEYS = ("created_at",)
IMAGE_SORT_KEYS = ("created_at", "updated_at", "name", "status", "id")
BAREMETAL_NODE_SORT_KEYS = ("created_at", "updated_at", "name", "id")


def _sqlite_on_connect(dbapi_connection, _record):
    # WAL lets readers run while a task writes; busy_timeout makes writers queue
    # instead of failing with "database is locked" under concurrent tasks.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_on_begin(conn):
    """Write transactions on sqlite begin with BEGIN IMMEDIATE.

    oslo.db starts every sqlite transaction with a deferred BEGIN (its own
    "begin" listener). In WAL mode a deferred transaction that has read and
    then writes fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT,
    which no busy timeout waits out) when another connection committed in
    between, e.g. a server delete racing a task's save. Taking the write lock
    at BEGIN makes writers queue on busy_timeout instead; readers keep their
    deferred BEGIN.
    """
    if not conn.get_execution_options().get(_WRITER):
        return
    if conn.connection.dbapi_connection.in_transaction:
        # oslo.db's listener ran first: its transaction is still empty.
        conn.exec_driver_sql("ROLLBACK")
    conn.exec_driver_sql("BEGIN IMMEDIATE")
    conn.info["in_transaction"] = True


def get_context_manager():
    global _CONTEXT_MANAGER
    with _LOCK:
        if _CONTEXT_MANAGER is None:
            _CONTEXT_MANAGER = _make_context_manager(CONF.database.connection)
    return _CONTEXT_MANAGER


def _make_context_manager(connection):
    manager = enginefacade.transaction_context()
    # thread_checkin off: oslo.db's time.sleep(0) at every connection check-in
    # only serves eventlet; to the API's threads it is a forced GIL handoff.
    manager.configure(connection=connection, sqlite_fk=True,
                      max_retries=CONF.database.max_retries,
                      thread_checkin=False)
    engine = manager.writer.get_engine()
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        engine.dispose()  # connections made before the listener get the pragmas too
        _pool_sqlite_connections(engine)
    return manager


def _pool_sqlite_connections(engine):
    """Keep a file database's sqlite connections open between transactions.

    oslo.db gives sqlite file databases a NullPool, so every transaction opened
    the file, ran the pragmas, parsed the schema and closed it again: about a
    millisecond, more than the queries of a typical GET. A QueuePool sized by
    the [database] pool options (as for PostgreSQL) keeps them instead. This is
    safe here: file connections are made with check_same_thread=False
    (SQLAlchemy's default), WAL lets pooled readers and a writer coexist, and
    oslo.db's BEGIN bookkeeping is per transaction. The new pool keeps the old
    one's event listeners (oslo.db's and ours) the way Pool.recreate() does.
    """
    old = engine.pool
    if type(old) is not sa_pool.NullPool:
        return
    engine.pool = sa_pool.QueuePool(
        old._creator,
        pool_size=(5 if CONF.database.max_pool_size is None
                   else CONF.database.max_pool_size),
        max_overflow=(10 if CONF.database.max_overflow is None
                      else CONF.database.max_overflow),
        timeout=(30 if CONF.database.pool_timeout is None
                 else CONF.database.pool_timeout),
        # No ping at checkout: a local file connection cannot have dropped
        # (and the new connection per transaction before was not pinged).
        recycle=old._recycle, pre_ping=False, echo=old.echo,
        logging_name=old._orig_logging_name,
        reset_on_return=old._reset_on_return,
        _dispatch=old.dispatch, dialect=old._dialect)
    # oslo.db marks a connection "in_transaction" after its own BEGIN; a
    # connection back in the pool has none (the pool rolled back), so it must
    # not carry the mark into its next checkout.
    event.listen(engine, "checkin", _sqlite_on_checkin)


def _sqlite_on_checkin(_dbapi_connection, record):
    if record is not None:
        record.info.pop("in_transaction", None)


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


@contextlib.contextmanager
def writer(context):
    """A write transaction; nested calls with the same context join it."""
    with get_context_manager().writer.using(context) as session:
        if not session.info.get(_WRITER):
            session.info[_WRITER] = True
            # Procure the connection before any query, marked as a writer's,
            # so that its BEGIN is IMMEDIATE on sqlite (_sqlite_on_begin).
            session.connection(execution_options={_WRITER: True})
        yield session


def _to_dict(row):
    return None if row is None else {c.name: getattr(row, c.name)
                                     for c in row.__table__.columns}


def as_dict(row):
    """A model instance as {column: value} (None for None), for the record
    modules beside this one."""
    return _to_dict(row)


def _columns_query(session, model):
    """A query of ``model``'s columns rather than of ORM instances, for lists:
    its rows become the same dicts as _to_dict makes (see _row_dicts) without
    the cost of building and tracking an instance per row."""
    return session.query(*model.__table__.columns)


def _row_dicts(rows):
    """``row._asdict()`` of each row, with the column names looked up once."""
    if not rows:
        return []
    keys = rows[0]._fields
    return [dict(zip(keys, row)) for row in rows]


def paginate(session, model, query, sort_key, sort_dir, limit, marker_id,
             marker_not_found):
    """``query``'s rows, a page of them (``query`` must select the sort keys)."""
    allowed = {models.Snapshot: SNAPSHOT_SORT_KEYS,
               models.Image: IMAGE_SORT_KEYS,
               models.BaremetalNode: BAREMETAL_NODE_SORT_KEYS,
               models.AssistedVolumeOperation: VOLUME_OPERATION_SORT_KEYS}.get(
        model, SERVER_SORT_KEYS)
    if sort_key not in allowed:
        raise exception.InvalidSortKey(key=sort_key, allowed=", ".join(allowed))
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


def insert(context, model, values):
    """Add one row; its values as saved (defaults filled in)."""
    with writer(context) as session:
        row = model()
        row.update(values)
        session.add(row)
        session.flush()
        return _to_dict(row)


def server_create(context, values):
    try:
        return insert(context, models.Server, values)
    except db_exc.DBDuplicateEntry:
        # The failed flush spoilt that transaction; look in a new one.
        existing = server_find_by_ref(context, values["driver"], values["host"],
                                      values["hypervisor_ref"])
        raise exception.AlreadyAdopted(
            driver=values["driver"], ref=values["hypervisor_ref"],
            server_id=existing["id"] if existing else "(unknown)") from None


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
        query = _columns_query(session, models.Server)
        if project_id is not None:
            query = query.filter_by(project_id=project_id)
        if host is not None:
            query = query.filter_by(host=host)
        for key, value in (filters or {}).items():
            query = query.filter(getattr(models.Server, key) == value)
        rows = paginate(session, models.Server, query, sort_key, sort_dir, limit,
                        marker, exception.InvalidMarker(marker=marker))
        return _row_dicts(rows)


def server_get_by_refs(context, driver, refs):
    """Servers of ``driver`` on any host whose hypervisor_ref is one of
    ``refs`` (a host-free driver's objects, e.g. bare-metal nodes)."""
    if not refs:
        return []
    with reader(context) as session:
        rows = session.query(models.Server).filter(
            models.Server.driver == driver,
            models.Server.hypervisor_ref.in_(list(refs))).order_by(
            models.Server.created_at, models.Server.id).all()
        return [_to_dict(r) for r in rows]


def server_get_busy(context, host):
    """Servers of ``host`` that a task was running on (start-up recovery)."""
    with reader(context) as session:
        rows = session.query(models.Server).filter(
            models.Server.host == host,
            models.Server.task_state.isnot(None)).all()
        return [_to_dict(r) for r in rows]


def server_get_flattening(context, host):
    """Servers of ``host`` whose full spawn's flatten has not ended."""
    with reader(context) as session:
        rows = session.query(models.Server).filter(
            models.Server.host == host,
            models.Server.flatten_progress.isnot(None),
            models.Server.flatten_progress < 100).all()
        return [_to_dict(r) for r in rows]


def server_get_waiting(context, host):
    """Servers of ``host`` whose task waits for an outside event."""
    with reader(context) as session:
        rows = session.query(models.Server).filter(
            models.Server.host == host,
            models.Server.task_wait_until.isnot(None)).all()
        return [_to_dict(r) for r in rows]


# server_update's "do not compare" for the provision state (None is a value).
UNCHECKED = object()


def server_update(context, server_id, values, expected_task_state=None,
                  expected_task_id=None, check_task=True,
                  expected_provision_state=UNCHECKED, expected_host=None):
    """Update a server; with ``check_task`` the row must hold the expected task.

    ``expected_task_state`` may be a single value (None included) or a tuple;
    ``expected_provision_state`` and ``expected_host``, when given, must be
    the row's too (a host-free server may move to another compute service
    between a request's read and its lock).
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
        if expected_provision_state is not UNCHECKED:
            query = query.filter(
                models.Server.provision_state.is_(None)
                if expected_provision_state is None else
                models.Server.provision_state == expected_provision_state)
        if expected_host is not None:
            query = query.filter(models.Server.host == expected_host)
        count = query.update(values, synchronize_session=False)
        row = session.get(models.Server, server_id, populate_existing=True)
        if row is None:
            raise exception.ServerNotFound(server_id=server_id)
        if count == 0 and expected_host not in (None, row.host):
            raise exception.Conflict(
                f"Server {server_id} moved from compute host {expected_host} "
                f"to {row.host} meanwhile; nothing was changed, retry.")
        if count == 0 and expected_provision_state not in (
                UNCHECKED, row.provision_state):
            raise exception.Conflict(
                f"Server {server_id}'s provision state moved from "
                f"'{expected_provision_state}' to '{row.provision_state}' "
                "meanwhile; nothing was changed.")
        if count == 0:
            if check_task and expected_task_state is None and row.task_state:
                raise exception.ServerBusy(server_id=server_id,
                                           task_state=row.task_state)
            raise exception.UnexpectedTaskState(
                server_id=server_id, expected=expected_task_state,
                actual=row.task_state)
        return _to_dict(row)


def server_destroy(context, server_id):
    """Remove a server record and its snapshot records; its images stay
    (an image outlives its snapshot and server, and is removed on its own)."""
    with writer(context) as session:
        for model in (models.Snapshot, models.PolicyAttachment,
                      models.QueuedRequest):
            session.query(model).filter_by(server_id=server_id).delete(
                synchronize_session=False)
        session.query(models.VolumeAttachment).filter_by(
            server_id=server_id).delete(synchronize_session=False)
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
                   models.Server.task_state.in_((states.SPAWNING,
                                                 states.SPAWN_WAIT)))).all()
        return [_to_dict(r) for r in rows]


# --- snapshots -----------------------------------------------------------------


def snapshot_create(context, values):
    return insert(context, models.Snapshot, values)


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
        query = _columns_query(session, models.Snapshot)
        if server_id is not None:
            query = query.filter_by(server_id=server_id)
        if project_id is not None:
            query = query.filter_by(project_id=project_id)
        for key, value in (filters or {}).items():
            query = query.filter(getattr(models.Snapshot, key) == value)
        rows = paginate(session, models.Snapshot, query, sort_key, sort_dir,
                        limit, marker, exception.InvalidMarker(marker=marker))
        return _row_dicts(rows)


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
    return insert(context, models.Image, values)


def image_get(context, image_id):
    with reader(context) as session:
        row = session.get(models.Image, image_id)
        if row is None:
            raise exception.ImageNotFound(image_id=image_id)
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


def image_get_all(context, project_id=None, filters=None, sort_key="created_at",
                  sort_dir="desc", limit=None, marker=None):
    with reader(context) as session:
        query = _columns_query(session, models.Image)
        if project_id is not None:
            query = query.filter_by(project_id=project_id)
        for key, value in (filters or {}).items():
            query = query.filter(getattr(models.Image, key) == value)
        rows = paginate(session, models.Image, query, sort_key, sort_dir, limit,
                        marker, exception.InvalidMarker(marker=marker))
        return _row_dicts(rows)


def image_destroy(context, image_id):
    with writer(context) as session:
        if session.query(models.Image).filter_by(id=image_id).delete(
                synchronize_session=False) == 0:
            raise exception.ImageNotFound(image_id=image_id)


def image_get_by_status(context, statuses, host=None):
    """Images in ``statuses``; with ``host``, those that compute service made
    (and those of an older release that did not record one)."""
    with reader(context) as session:
        query = session.query(models.Image).filter(
            models.Image.status.in_(list(statuses)))
        if host is not None:
            query = query.filter(sa.or_(models.Image.host == host,
                                        models.Image.host.is_(None)))
        return [_to_dict(r) for r in query]


def image_get_flattening(context, host):
    """Active images ``host`` exported by clone whose flatten has not ended."""
    with reader(context) as session:
        rows = session.query(models.Image).filter(
            models.Image.host == host,
            models.Image.flatten_progress.isnot(None),
            models.Image.flatten_progress < 100).all()
        return [_to_dict(r) for r in rows]


def server_current_snapshot_ids(context, server_ids):
    """{server id: its current snapshot id} for the given servers."""
    if not server_ids:
        return {}
    with reader(context) as session:
        return dict(session.query(models.Server.id,
                                  models.Server.current_snapshot_id).filter(
            models.Server.id.in_(list(server_ids))))


# --- volume attachments -------------------------------------------------------


def volume_attachment_set(context, server_id, devices):
    """Make ``{volume id: device}`` the server's attached volumes; True when
    that changed the record. Two writers at once (an adopt and the event of
    the same attachment) may both insert a row: the loser reads again."""
    try:
        return _volume_attachment_set(context, server_id, devices)
    except db_exc.DBDuplicateEntry:
        return _volume_attachment_set(context, server_id, devices)


def _volume_attachment_set(context, server_id, devices):
    with writer(context) as session:
        rows = {r.volume_id: r for r in session.query(
            models.VolumeAttachment).filter_by(server_id=server_id)}
        if {v: r.device for v, r in rows.items()} == devices:
            return False
        for volume_id, row in rows.items():
            if volume_id not in devices:
                session.delete(row)
            elif row.device != devices[volume_id]:
                row.device = devices[volume_id]
        for volume_id, device in devices.items():
            if volume_id not in rows:
                session.add(models.VolumeAttachment(
                    server_id=server_id, volume_id=volume_id, device=device))
        return True


def volume_attachment_get_all(context, server_id=None, volume_id=None):
    with reader(context) as session:
        query = session.query(models.VolumeAttachment)
        if server_id is not None:
            query = query.filter_by(server_id=server_id)
        if volume_id is not None:
            query = query.filter_by(volume_id=volume_id)
        return [_to_dict(r) for r in query.order_by(
            models.VolumeAttachment.server_id, models.VolumeAttachment.volume_id)]


# --- assisted volume snapshot operations -------------------------------------


def volume_operation_create(context, values):
    return insert(context, models.AssistedVolumeOperation, values)


def volume_operation_get(context, operation_id):
    with reader(context) as session:
        row = session.get(models.AssistedVolumeOperation, operation_id)
        if row is None:
            raise exception.NotFound(
                f"Assisted volume operation {operation_id} could not be found.")
        return _to_dict(row)


def volume_operation_update(context, operation_id, values, expected_status=None):
    """Update an operation record; with ``expected_status`` only if it still
    has it (an operation is finished once)."""
    values = dict(values)
    values["updated_at"] = timeutils.utcnow()
    with writer(context) as session:
        query = session.query(models.AssistedVolumeOperation).filter_by(
            id=operation_id)
        if expected_status is not None:
            statuses = (expected_status if isinstance(expected_status, (tuple, list))
                        else (expected_status,))
            query = query.filter(
                models.AssistedVolumeOperation.status.in_(statuses))
        count = query.update(values, synchronize_session=False)
        row = session.get(models.AssistedVolumeOperation, operation_id,
                          populate_existing=True)
        if row is None:
            raise exception.NotFound(
                f"Assisted volume operation {operation_id} could not be found.")
        if count == 0:
            raise exception.UnexpectedStatus(
                what="Assisted volume operation", id=operation_id,
                expected=expected_status, actual=row.status)
        return _to_dict(row)


def volume_operation_get_all(context, filters=None, sort_dir="desc", limit=None,
                             marker=None):
    """Operation records, newest first (``sort_dir`` asc: oldest first)."""
    with reader(context) as session:
        query = _columns_query(session, models.AssistedVolumeOperation)
        for key, value in (filters or {}).items():
            column = getattr(models.AssistedVolumeOperation, key)
            query = query.filter(column.in_(value) if isinstance(value, tuple)
                                 else column == value)
        rows = paginate(session, models.AssistedVolumeOperation, query,
                        "created_at", sort_dir, limit, marker,
                        exception.InvalidMarker(marker=marker))
        return _row_dicts(rows)


def volume_operation_purge(context, before):
    """Remove finished operation records made before ``before``; how many."""
    with writer(context) as session:
        return session.query(models.AssistedVolumeOperation).filter(
            models.AssistedVolumeOperation.created_at < before,
            models.AssistedVolumeOperation.status.notin_(
                states.VOLUME_OP_IN_FLIGHT)).delete(
            synchronize_session=False)


# --- bare-metal nodes -----------------------------------------------------------
#
# A node's row holds secrets (agent_token, redfish_password). A failed
# statement's error names its parameters, so an unexpected database error
# is raised again without them (and without its cause), never logged whole.


@contextlib.contextmanager
def _node_errors(name=None):
    try:
        yield
    except db_exc.DBDuplicateEntry:
        raise exception.Conflict(
            f"A bare-metal node named '{name}' is already enrolled; node "
            "names are unique (a server may name its node by name). Choose "
            "another name or delete that node first.") from None
    except exception.NativesnapException:
        raise
    except Exception as e:
        raise exception.DBError(
            reason=f"{type(e).__name__} while writing a bare-metal node "
                   "(details withheld: the row holds secrets)") from None


def _node_not_found(node_id):
    return exception.NotFound(
        f"Bare-metal node {node_id} could not be found.")


def baremetal_node_create(context, values):
    with _node_errors(values.get("name")):
        return insert(context, models.BaremetalNode, values)


def baremetal_node_get(context, node_id):
    with reader(context) as session:
        row = session.get(models.BaremetalNode, node_id)
        if row is None:
            raise _node_not_found(node_id)
        return _to_dict(row)


def baremetal_node_get_by_ref(context, ref):
    """The node whose id or name is ``ref``."""
    with reader(context) as session:
        row = session.query(models.BaremetalNode).filter(sa.or_(
            models.BaremetalNode.id == ref,
            models.BaremetalNode.name == ref)).first()
        if row is None:
            raise _node_not_found(ref)
        return _to_dict(row)


def baremetal_node_get_all(context, sort_key="created_at", sort_dir="desc",
                           limit=None, marker=None):
    with reader(context) as session:
        query = _columns_query(session, models.BaremetalNode)
        rows = paginate(session, models.BaremetalNode, query, sort_key,
                        sort_dir, limit, marker,
                        exception.InvalidMarker(marker=marker))
        return _row_dicts(rows)


def baremetal_node_update(context, node_id, values):
    values = dict(values)
    values["updated_at"] = timeutils.utcnow()
    with _node_errors(values.get("name")), writer(context) as session:
        count = session.query(models.BaremetalNode).filter_by(
            id=node_id).update(values, synchronize_session=False)
        if count == 0:
            raise _node_not_found(node_id)
        return _to_dict(session.get(models.BaremetalNode, node_id,
                                    populate_existing=True))


def baremetal_node_destroy(context, node_id):
    with writer(context) as session:
        if session.query(models.BaremetalNode).filter_by(id=node_id).delete(
                synchronize_session=False) == 0:
            raise _node_not_found(node_id)


def server_hosts_of_driver(context, driver):
    """(id, host, task_state, task_id) of every server of ``driver``: what
    the owners of host-free servers are decided from."""
    with reader(context) as session:
        return [tuple(row) for row in session.query(
            models.Server.id, models.Server.host, models.Server.task_state,
            models.Server.task_id).filter_by(driver=driver).all()]


def server_move_host(context, server_id, from_host, to_host, only_idle):
    """Move a server to ``to_host`` if it is still on ``from_host`` (and,
    with ``only_idle``, holds no task): True when it moved."""
    with writer(context) as session:
        query = session.query(models.Server).filter_by(id=server_id,
                                                       host=from_host)
        if only_idle:
            query = query.filter(models.Server.task_state.is_(None))
        return query.update({"host": to_host, "updated_at": timeutils.utcnow()},
                            synchronize_session=False) == 1

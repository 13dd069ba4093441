"""Database access of the service registry (``services``): the compute
services' heartbeats and the operator's enabled/disabled flag
(docs/deployment.md). Kept apart from db/api.py, the servers' and
snapshots' records, as a registry of its own; it uses that module's
transactions."""

from oslo_db import exception as db_exc
from oslo_utils import timeutils
from oslo_utils import uuidutils

from nativesnap.db import api
from nativesnap.db import models
from nativesnap import exception


_row = api.as_dict


def heartbeat(context, host, binary, drivers, rpc_version):
    """Record that ``host``'s service is alive now, and what it runs; its
    row is made on its first heartbeat (``disabled`` is the operator's)."""
    now = timeutils.utcnow()
    values = {"binary": binary, "drivers": drivers, "rpc_version": rpc_version,
              "last_seen_at": now, "updated_at": now}
    for _attempt in range(2):  # two first heartbeats of one host may race
        with api.writer(context) as session:
            if session.query(models.Service).filter_by(host=host).update(
                    values, synchronize_session=False):
                return
        try:
            with api.writer(context) as session:
                session.add(models.Service(
                    id=uuidutils.generate_uuid(), host=host, disabled=False,
                    created_at=now, **values))
            return
        except db_exc.DBDuplicateEntry:
            continue


def get_all(context):
    with api.reader(context) as session:
        return [_row(r) for r in session.query(models.Service).order_by(
            models.Service.host)]


def get(context, service_id):
    with api.reader(context) as session:
        row = session.get(models.Service, service_id)
        if row is None:
            raise exception.ServiceNotFound(service_id=service_id)
        return _row(row)


def get_by_host(context, host):
    """The service of ``host``, or None when it never registered."""
    with api.reader(context) as session:
        return _row(session.query(models.Service).filter_by(
            host=host).one_or_none())


def update(context, service_id, values):
    values = dict(values, updated_at=timeutils.utcnow())
    with api.writer(context) as session:
        if session.query(models.Service).filter_by(id=service_id).update(
                values, synchronize_session=False) == 0:
            raise exception.ServiceNotFound(service_id=service_id)
        return _row(session.get(models.Service, service_id,
                                populate_existing=True))

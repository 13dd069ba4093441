"""ServerSnapshotList.get_records, the list views' read: for any page,
order, filter and marker it gives what ``get_all``'s objects' ``as_dict()``
give restricted to the fields asked for (JSON columns, NULLs and timestamps
included), and a value the fast checks do not vouch for sends the page
through the objects, with their coercions and errors."""

import datetime

from oslo_utils import uuidutils
import pytest

from nativesnap.common import states
from nativesnap import context as ns_context
from nativesnap.db import api as db_api
from nativesnap.db import models
from nativesnap.objects import server as server_obj
from nativesnap.objects import snapshot as snapshot_obj

FIELDS = ("id", "server_id", "name", "status", "progress", "parent_id",
          "volumes", "disks", "fault", "size_bytes", "memory", "created_at",
          "policy_id", "scheduled_at")


@pytest.fixture
def server(database):
    server = server_obj.Server(ns_context.get_admin_context())
    server.name, server.project_id, server.driver = "s", "p1", "fake"
    server.hypervisor_ref, server.host = "vm-1", "h"
    server.status, server.origin = states.ACTIVE, states.ADOPTED
    server.create()
    parent = None
    start = datetime.datetime(2026, 1, 1, 12, 0, 0, 250000)
    for n in range(7):
        snap = snapshot_obj.ServerSnapshot(server._context)
        snap.server_id, snap.project_id = server.id, "p1"
        snap.name = f"snap-{n}"
        snap.status = states.ERROR if n == 3 else states.AVAILABLE
        snap.fault = {"code": 500, "message": "é"} if n == 3 else None
        snap.volumes = [{"volume_id": "v", "snapshot_id": "s"}] if n == 2 else []
        snap.disks = [{"target": "vda", "file": f"{n}.qcow2"}]
        snap.parent_id = parent
        snap.size_bytes = 2 ** 40 if n == 1 else None
        snap.created_at = start + datetime.timedelta(seconds=n % 4)
        snap.create()
        parent = snap.id
    return server


def objects_as_dicts(context, fields, **kwargs):
    return [{k: v for k, v in s.as_dict().items() if k in fields}
            for s in snapshot_obj.ServerSnapshotList.get_all(context, **kwargs)]


@pytest.mark.parametrize("kwargs", [
    {}, {"limit": 3}, {"sort_key": "name", "sort_dir": "asc"},
    {"sort_key": "status", "limit": 4}, {"filters": {"status": "error"}},
    {"project_id": "p1", "sort_key": "updated_at"}])
def test_records_are_the_objects_dicts(server, kwargs):
    context = server._context
    kwargs = dict(kwargs, server_id=server.id)
    # id and the sort key come along (a marker needs them).
    fields = FIELDS + (kwargs.get("sort_key", "created_at"),)
    expected = objects_as_dicts(context, fields, **kwargs)
    records = snapshot_obj.ServerSnapshotList.get_records(context, FIELDS,
                                                          **kwargs)
    assert records == expected and len(records) > 0
    # The next page from a marker, too.
    marker = records[0]["id"]
    assert snapshot_obj.ServerSnapshotList.get_records(
        context, FIELDS, marker=marker, **kwargs) == objects_as_dicts(
        context, fields, marker=marker, **kwargs)


def test_records_read_only_the_fields_asked_for(server):
    [record] = snapshot_obj.ServerSnapshotList.get_records(
        server._context, ("name",), server_id=server.id, limit=1,
        sort_key="updated_at")
    # id and the sort key come along (a marker needs them).
    assert set(record) == {"id", "name", "updated_at"}


def _set(server, **values):
    with db_api.writer(server._context) as session:
        session.execute(models.Snapshot.__table__.update().where(
            models.Snapshot.__table__.c.server_id == server.id).values(values))


def test_a_value_not_vouched_for_goes_through_the_objects(server):
    _set(server, progress=-1)   # NonNegativeInteger refuses it
    with pytest.raises(ValueError):
        snapshot_obj.ServerSnapshotList.get_all(server._context,
                                                server_id=server.id)
    with pytest.raises(ValueError):
        snapshot_obj.ServerSnapshotList.get_records(
            server._context, FIELDS, server_id=server.id)


def test_a_value_coerced_otherwise_is_the_objects_value(server):
    _set(server, parent_id="not-a-uuid-" + uuidutils.generate_uuid()[:4])
    context = server._context
    with pytest.warns(FutureWarning):
        expected = objects_as_dicts(context, FIELDS, server_id=server.id)
    with pytest.warns(FutureWarning):
        records = snapshot_obj.ServerSnapshotList.get_records(
            context, FIELDS, server_id=server.id)
    assert records == expected

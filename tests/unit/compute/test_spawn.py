"""compute.api's spawn on a real database, with a recording RPC client in
place of a compute service: the new server's record is inserted holding the
spawn's task lock in one statement (no moment has a BUILD record without its
task, so a crash leaves either nothing or a task recovery finishes), after
the compute service accepted the task; a refused insert gives the
reservation back, a refused cast removes the record."""

import pytest

from nativesnap.common import states
from nativesnap.compute import api as compute_api
from nativesnap import context as ns_context
from nativesnap.db import api as db_api
from nativesnap import exception
from nativesnap.objects import server as server_obj
from tests.unit.compute.test_baremetal_provision import bm_server
from tests.unit.compute.test_baremetal_provision import RecordingRPC
from tests.unit.compute.test_baremetal_provision import register_compute
from tests.unit.compute.test_baremetal_provision import RESERVATION
from tests.unit.compute.test_baremetal_provision import snapshot_of


class Crash(BaseException):
    """The process dies here: no ``except Exception`` runs."""


@pytest.fixture
def rpc():
    return RecordingRPC()


@pytest.fixture
def api(database, rpc):
    register_compute()
    return compute_api.API(rpcapi=rpc)


@pytest.fixture
def context():
    return ns_context.RequestContext(user_id="alice", project_id="p1",
                                     roles=["member", "reader"])


@pytest.fixture
def snapshot(context):
    source = bm_server(context, "vm-1", driver="fake", provision_state=None)
    return snapshot_of(context, source, states.AVAILABLE)


@pytest.fixture
def writes(monkeypatch):
    """The server rows written, in order: ("insert", values) and
    ("update", id, values)."""
    seen = []
    create, update = db_api.server_create, db_api.server_update

    def recording_create(context, values):
        seen.append(("insert", dict(values)))
        return create(context, values)

    def recording_update(context, server_id, values, **kwargs):
        seen.append(("update", server_id, dict(values)))
        return update(context, server_id, values, **kwargs)

    monkeypatch.setattr(db_api, "server_create", recording_create)
    monkeypatch.setattr(db_api, "server_update", recording_update)
    return seen


def spawned(context, snapshot):
    """The servers spawned from ``snapshot``, as recorded."""
    return [s for s in server_obj.ServerList.get_all(context)
            if s.source_snapshot_id == snapshot.id]


def spawn(api, context, snapshot, name="copy"):
    return api.spawn_server(context, snapshot, name, False, True)


def test_the_record_is_inserted_holding_its_task(api, rpc, context, snapshot,
                                                 writes):
    server = spawn(api, context, snapshot)
    assert writes == [("insert", writes[0][1])]   # one write, no update after
    inserted = writes[0][1]
    assert inserted["id"] == server.id
    assert inserted["status"] == states.BUILD
    assert inserted["task_state"] == states.SPAWNING
    assert inserted["task_id"] and inserted["task_started_at"]
    assert inserted["task_target_id"] == snapshot.id
    record = server_obj.Server.get_by_id(context, server.id)
    assert (record.status, record.task_state, record.task_id) == (
        states.BUILD, states.SPAWNING, server.task_id)
    # The compute service accepted the task before the insert; the cast
    # carries the record as inserted.
    assert rpc.prepared == [(server.id, states.SPAWNING, None)]
    assert rpc.casts == [("spawn_server", server.id, snapshot.id)]


@pytest.mark.parametrize("step", ["prepare_task", "server_update",
                                  "spawn_server"])
def test_a_crash_at_any_step_leaves_no_build_record_without_its_task(
        api, rpc, context, snapshot, monkeypatch, step):
    """The process dies while the compute service is asked, at any further
    write of the record, or just before the cast."""
    def crash(*args, **kwargs):
        raise Crash()

    monkeypatch.setattr(db_api if step == "server_update" else rpc, step,
                        crash)
    try:
        spawn(api, context, snapshot)
    except Crash:
        pass
    left = spawned(context, snapshot)
    for server in left:
        # What start-up recovery finds and finishes (an interrupted spawn).
        assert server.status == states.BUILD
        assert server.task_state == states.SPAWNING and server.task_id
    assert len(left) == (0 if step == "prepare_task" else 1)


def test_a_failed_insert_leaves_nothing_and_gives_the_reservation_back(
        api, rpc, context, snapshot, monkeypatch):
    def broken(context, values):
        raise exception.NativesnapException("the database went away")

    monkeypatch.setattr(db_api, "server_create", broken)
    with pytest.raises(exception.NativesnapException):
        spawn(api, context, snapshot)
    assert spawned(context, snapshot) == []
    assert rpc.casts == [("release_reservation", "test-host", RESERVATION)]


def test_a_refused_cast_removes_the_record(api, rpc, context, snapshot,
                                           monkeypatch):
    def refused(*args, **kwargs):
        raise exception.ComputeUnavailable(host="test-host", timeout=5)

    monkeypatch.setattr(rpc, "spawn_server", refused)
    with pytest.raises(exception.ComputeUnavailable):
        spawn(api, context, snapshot)
    assert spawned(context, snapshot) == []


def test_a_refused_task_records_nothing(api, rpc, context, snapshot,
                                        monkeypatch):
    def full(*args, **kwargs):
        raise exception.ComputeUnavailable(host="test-host", timeout=5)

    monkeypatch.setattr(rpc, "prepare_task", full)
    with pytest.raises(exception.ComputeUnavailable):
        spawn(api, context, snapshot)
    assert spawned(context, snapshot) == []
    assert rpc.casts == []

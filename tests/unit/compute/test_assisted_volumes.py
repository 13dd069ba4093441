"""Cinder's assisted volume snapshots in the compute service, with the fake
driver, a real (sqlite) database and a fake Cinder: the answer comes first
and the work after it, in its turn on the server, without the server's task
lock; Cinder is called back with Nova's statuses; every request is recorded,
refused ones too; a callback that fails is recorded and harms nothing; a
restart finishes what it interrupted."""

import datetime
import threading
import time

from oslo_utils import timeutils
from oslo_utils import uuidutils
import pytest

from nativesnap.common import states
from nativesnap.db import api as db
from nativesnap import exception
from nativesnap.compute import recovery
from nativesnap.objects import volume_operation as operation_obj
from nativesnap.virt import driver as virt_driver
from tests.unit.compute.conftest import WAIT
from tests.unit.compute.conftest import assert_no_task_left


class FakeCinder:
    """Records the status updates; ``fail`` makes them raise it."""

    def __init__(self, env):
        self.env = env
        self.calls = []
        self.fail = None
        self.called = threading.Event()
        self.task_states_seen = []
        self.contexts = []  # the request context of each call

    def update_snapshot_status(self, project_id, snapshot_id, status,
                               progress=None, context=None):
        self.contexts.append(context)
        # What the server's lock was when Cinder heard back.
        servers = [s for s in self.env.all_servers()]
        self.task_states_seen.append([s.task_state for s in servers])
        self.calls.append((project_id, snapshot_id, status, progress))
        self.called.set()
        if self.fail is not None:
            raise self.fail


class AVS:
    """The manager of ``env`` with a fake Cinder, and helpers."""

    def __init__(self, env):
        self.cinder = FakeCinder(self)
        self.env = env.restart(volume_api=self.cinder)
        self.manager = self.env.manager
        self.context = env.context.__class__(
            user_id="cinder", project_id="c1nder", roles=["service"],
            request_id="req-" + uuidutils.generate_uuid())

    def all_servers(self):
        from nativesnap.objects import server as server_obj
        return list(server_obj.ServerList.get_all(self.env.context))

    def server_with_volume(self, ref="vm-1", volume_id=None):
        server = self.env.adopt(ref)
        volume_id = volume_id or uuidutils.generate_uuid()
        self.env.driver.attach_volume(ref, volume_id)
        # What the compute service does when the driver reports the disk.
        self.env.compute.sync_server(self.env.context, self.env.server(server.id))
        return server, volume_id

    def create_info(self, volume_id, snapshot_id=None, **extra):
        snapshot_id = snapshot_id or uuidutils.generate_uuid()
        return dict({"snapshot_id": snapshot_id, "type": "qcow2",
                     "new_file": f"volume-{volume_id}.{snapshot_id}"}, **extra)

    def operations(self, **filters):
        return list(operation_obj.AssistedVolumeOperationList.get_all(
            self.env.context, filters=filters or None, sort_dir="asc"))

    def wait_for_callbacks(self, count):
        deadline = time.monotonic() + WAIT
        while len(self.cinder.calls) < count:
            assert time.monotonic() < deadline, (
                f"{len(self.cinder.calls)} callback(s) after {WAIT} s, "
                f"not {count}")
            time.sleep(0.02)

    def wait_finished(self, op_id):
        deadline = time.monotonic() + WAIT
        while True:
            op = operation_obj.AssistedVolumeOperation.get_by_id(
                self.env.context, op_id)
            if op.status not in states.VOLUME_OP_IN_FLIGHT:
                return op
            assert time.monotonic() < deadline, f"{op_id} still running"
            time.sleep(0.02)

    def create(self, volume_id, **kwargs):
        info = self.create_info(volume_id, **kwargs)
        answer = self.manager.volume_snapshot_create(self.context, volume_id,
                                                     info)
        return answer, info

    def only_operation(self):
        [op] = self.operations()
        return self.wait_finished(op.id)


@pytest.fixture
def avs(env):
    return AVS(env)


def test_create_answers_nova_s_body_then_switches_the_chain_and_tells_cinder(avs):
    server, volume_id = avs.server_with_volume()
    answer, info = avs.create(volume_id, id="nova-id-1")
    assert answer == {"id": "nova-id-1", "volumeId": volume_id}
    op = avs.only_operation()
    assert avs.env.driver.volume_chain(volume_id) == [
        info["new_file"], f"volume-{volume_id}"]
    assert avs.cinder.calls == [("c1nder", info["snapshot_id"], "creating",
                                 "90%")]
    assert (op.status, op.action, op.server_id, op.disk, op.volume_id,
            op.snapshot_id) == (states.VOLUME_OP_SUCCEEDED, "create", server.id,
                                "vdb", volume_id, info["snapshot_id"])
    assert (op.user_id, op.project_id, op.request_id) == (
        "cinder", "c1nder", avs.context.request_id)
    assert op.request == info
    assert op.files["chain"][0] == info["new_file"]
    assert op.callback == {"status": "creating", "progress": "90%",
                           "delivered": True}
    assert op.fault is None and op.finished_at is not None
    assert op.duration_ms >= 0
    assert_no_task_left(avs.env.context)


def test_the_callback_carries_cinders_token_across_the_rpc_seam(avs):
    """With Keystone, Cinder's request context has its token and catalog:
    the compute service calls Cinder back with them (docs/cinder.md)."""
    _server, volume_id = avs.server_with_volume()
    catalog = [{"type": "volumev3", "endpoints": [
        {"publicURL": "http://cinder:8776/v3/c1nder"}]}]
    avs.context = avs.context.__class__(
        user_id="cinder", project_id="c1nder", roles=["service"],
        auth_token="cinder-token", service_catalog=catalog)
    avs.create(volume_id)
    avs.only_operation()
    [context] = avs.cinder.contexts
    assert context is not avs.context  # it crossed the seam as a dict
    assert (context.auth_token, context.project_id) == ("cinder-token", "c1nder")
    assert context.service_catalog == catalog


def test_create_without_an_id_answers_id_null(avs):
    _server, volume_id = avs.server_with_volume()
    answer, _ = avs.create(volume_id)
    assert answer == {"id": None, "volumeId": volume_id}
    avs.only_operation()


def test_the_answer_comes_before_the_work_which_takes_no_server_lock(avs):
    server, volume_id = avs.server_with_volume("slow-vm")
    answer, _ = avs.create(volume_id)
    assert answer["volumeId"] == volume_id
    # Answered while the work still runs; the server takes other requests.
    assert avs.env.server(server.id).task_state is None
    [op] = avs.operations()
    assert op.status in (states.VOLUME_OP_QUEUED, states.VOLUME_OP_RUNNING)
    assert avs.cinder.calls == []
    snap = avs.env.manager.create_snapshot(avs.env.context,
                                           avs.env.server(server.id), "snap")
    avs.wait_for_callbacks(1)
    avs.env.wait_idle(server.id)
    done = avs.wait_finished(op.id)
    # Both ran, one after the other: the snapshot in its turn after the
    # volume's.
    assert done.status == states.VOLUME_OP_SUCCEEDED
    assert avs.env.snapshot(snap.id).status == states.AVAILABLE
    assert done.finished_at <= avs.env.snapshot(snap.id).updated_at
    assert avs.cinder.task_states_seen[0] in ([None], [states.SNAPSHOTTING])


def test_a_server_with_a_task_queues_the_operation_which_then_succeeds(avs):
    server, volume_id = avs.server_with_volume("slow-vm")
    snap = avs.env.manager.create_snapshot(avs.env.context,
                                           avs.env.server(server.id), "snap")
    _answer, info = avs.create(volume_id)  # accepted, not refused
    op = avs.only_operation()
    assert op.status == states.VOLUME_OP_SUCCEEDED
    assert avs.env.snapshot(snap.id).status == states.AVAILABLE
    assert avs.cinder.calls == [("c1nder", info["snapshot_id"], "creating",
                                 "90%")]
    assert avs.env.driver.volume_chain(volume_id)[0] == info["new_file"]


def test_operations_on_two_volumes_of_one_server_both_succeed(avs):
    server, first_volume = avs.server_with_volume("slow-vm")
    second_volume = uuidutils.generate_uuid()
    avs.env.driver.attach_volume("slow-vm", second_volume, target="vdc")
    avs.env.compute.sync_server(avs.env.context, avs.env.server(server.id))
    _, a = avs.create(first_volume)
    _, b = avs.create(second_volume)
    avs.wait_for_callbacks(2)
    assert sorted(c[1:] for c in avs.cinder.calls) == sorted([
        (a["snapshot_id"], "creating", "90%"),
        (b["snapshot_id"], "creating", "90%")])
    assert avs.env.driver.volume_chain(first_volume)[0] == a["new_file"]
    assert avs.env.driver.volume_chain(second_volume)[0] == b["new_file"]


def test_a_queued_operation_whose_wait_runs_out_tells_cinder_why(avs, config):
    config("volume_operation_wait", 1, group="cinder")
    config("task_delay", 3.0, group="fake")
    server, volume_id = avs.server_with_volume("slow-vm")
    snap = avs.env.manager.create_snapshot(avs.env.context,
                                           avs.env.server(server.id), "snap")
    _answer, info = avs.create(volume_id)
    op = avs.only_operation()
    assert op.status == states.VOLUME_OP_FAILED
    assert "waited 1 s for its turn" in op.fault["message"]
    assert "create_snapshot" in op.fault["message"]
    assert avs.cinder.calls == [("c1nder", info["snapshot_id"], "error", "90%")]
    avs.env.wait_idle(server.id)
    assert avs.env.snapshot(snap.id).status == states.AVAILABLE
    assert avs.env.driver.volume_chain(volume_id) == [f"volume-{volume_id}"]
    # Nothing is left holding the server: the next operation runs.
    avs.create(volume_id)
    avs.wait_for_callbacks(2)
    assert avs.cinder.calls[1][2] == "creating"


def test_an_operation_on_a_server_being_deleted_answers_400(avs):
    server, volume_id = avs.server_with_volume()
    locked = avs.env.server(server.id)
    locked.begin_task(states.DELETING_SERVER, uuidutils.generate_uuid())
    with pytest.raises(exception.VolumeServerBusy) as info:
        avs.create(volume_id)
    assert info.value.code == 400 and "deleting" in str(info.value)
    [op] = avs.operations()
    assert op.status == states.VOLUME_OP_REFUSED
    assert avs.cinder.calls == []  # a refusal is the answer; no callback


def test_an_unknown_volume_answers_400_and_is_recorded_refused(avs):
    avs.server_with_volume()
    volume_id = uuidutils.generate_uuid()
    with pytest.raises(exception.VolumeNotAttached) as info:
        avs.create(volume_id)
    assert info.value.code == 400 and volume_id in str(info.value)
    [op] = avs.operations()
    assert (op.status, op.server_id, op.volume_id) == (
        states.VOLUME_OP_REFUSED, None, volume_id)
    assert avs.cinder.calls == []


def test_a_volume_attached_to_two_servers_answers_400(avs, monkeypatch):
    first, volume_id = avs.server_with_volume("vm-1")
    second = avs.env.adopt("vm-2")
    # A multi-attached volume: every server has a disk with its serial.
    monkeypatch.setattr(avs.env.driver.volumes, "attached_volumes",
                        lambda ctx, server: [virt_driver.VolumeAttachment(
                            volume_id, "vdb")])
    for server in (first, second):
        avs.env.compute.sync_server(avs.env.context, avs.env.server(server.id))
    with pytest.raises(exception.VolumeAttachedToSeveral) as info:
        avs.create(volume_id)
    assert info.value.code == 400
    assert first.id in str(info.value) and second.id in str(info.value)


def test_a_driver_refusal_answers_400_and_changes_nothing(avs):
    _server, volume_id = avs.server_with_volume()
    info = avs.create_info(volume_id)
    info["new_file"] = f"volume-{volume_id}"  # the current file itself
    with pytest.raises(exception.Invalid):
        avs.manager.volume_snapshot_create(avs.context, volume_id, info)
    assert avs.env.driver.volume_chain(volume_id) == [f"volume-{volume_id}"]
    assert [op.status for op in avs.operations()] == [states.VOLUME_OP_REFUSED]


def test_a_failed_create_tells_cinder_error_at_90_and_records_the_fault(avs):
    server, volume_id = avs.server_with_volume("fail-vm")
    _answer, info = avs.create(volume_id)
    op = avs.only_operation()
    assert avs.cinder.calls == [("c1nder", info["snapshot_id"], "error", "90%")]
    assert op.status == states.VOLUME_OP_FAILED
    assert "injected failure" in op.fault["message"]
    assert op.callback["status"] == "error" and op.callback["delivered"]
    after = avs.env.server(server.id)
    assert after.task_state is None and after.status == states.ACTIVE
    assert avs.env.driver.volume_chain(volume_id) == [f"volume-{volume_id}"]


def _snapshotted_twice(avs, ref="vm-1"):
    """A volume with two snapshots, as Cinder names them: the chain is
    s2-file <- s1-file <- base."""
    server, volume_id = avs.server_with_volume(ref)
    _, first = avs.create(volume_id)
    avs.wait_for_callbacks(1)
    avs.env.wait_idle(server.id)
    _, second = avs.create(volume_id)
    avs.wait_for_callbacks(2)
    avs.env.wait_idle(server.id)
    return server, volume_id, first, second


def test_delete_pull_and_commit_merge_the_chain_and_tell_cinder_deleting(avs):
    server, volume_id, first, second = _snapshotted_twice(avs)
    base = f"volume-{volume_id}"
    # Cinder deletes the older snapshot (its overlay is not active): commit.
    avs.manager.volume_snapshot_delete(avs.context, first["snapshot_id"], {
        "type": "qcow2", "volume_id": volume_id,
        "file_to_merge": first["new_file"], "merge_target_file": base})
    avs.wait_for_callbacks(3)
    assert avs.env.driver.volume_chain(volume_id) == [second["new_file"], base]
    # Then the newest (its overlay is active): pull, base null = flatten.
    avs.env.wait_idle(server.id)
    avs.manager.volume_snapshot_delete(avs.context, second["snapshot_id"], {
        "type": "qcow2", "volume_id": volume_id, "file_to_merge": None,
        "merge_target_file": None})
    avs.wait_for_callbacks(4)
    assert avs.env.driver.volume_chain(volume_id) == [second["new_file"]]
    assert avs.cinder.calls[2:] == [
        ("c1nder", first["snapshot_id"], "deleting", "90%"),
        ("c1nder", second["snapshot_id"], "deleting", "90%")]
    ops = [avs.wait_finished(op.id) for op in avs.operations(action="delete")]
    assert [op.status for op in ops] == [states.VOLUME_OP_SUCCEEDED] * 2
    assert_no_task_left(avs.env.context)


def test_a_failed_delete_tells_cinder_error_deleting_and_keeps_the_chain(avs):
    server, volume_id, first, second = _snapshotted_twice(avs)
    chain = avs.env.driver.volume_chain(volume_id)
    avs.manager.volume_snapshot_delete(avs.context, first["snapshot_id"], {
        "type": "qcow2", "volume_id": volume_id,
        "file_to_merge": "volume-not-in-the-chain",
        "merge_target_file": f"volume-{volume_id}"})
    avs.wait_for_callbacks(3)
    assert avs.cinder.calls[2] == ("c1nder", first["snapshot_id"],
                                   "error_deleting", "90%")
    [op] = avs.operations(action="delete")
    op = avs.wait_finished(op.id)
    assert op.status == states.VOLUME_OP_FAILED
    assert "not in the volume's chain" in op.fault["message"]
    assert avs.env.driver.volume_chain(volume_id) == chain
    assert avs.env.server(server.id).task_state is None


@pytest.mark.parametrize("failure", [
    exception.NativesnapException("Cinder answered 503 three times"),
    ConnectionError("connection refused")])
def test_a_failed_callback_is_recorded_and_the_next_request_still_works(
        avs, failure):
    _server, volume_id = avs.server_with_volume()
    avs.cinder.fail = failure
    avs.create(volume_id)
    op = avs.only_operation()
    assert op.status == states.VOLUME_OP_SUCCEEDED  # the work itself worked
    assert op.callback["delivered"] is False
    assert op.callback["error"]
    avs.cinder.fail = None
    _answer, info = avs.create(volume_id)
    avs.wait_for_callbacks(2)
    assert avs.cinder.calls[1][1:] == (info["snapshot_id"], "creating", "90%")


def test_a_restart_tells_cinder_how_an_interrupted_operation_ended(avs, tmp_path):
    server, volume_id = avs.server_with_volume()
    done_info = avs.create_info(volume_id)
    # Three operations a crash interrupted, as they would be in the
    # database: one running whose disk had already been switched, one
    # running that had not got that far, one still queued for its turn.
    records = []
    for info, status, switched in (
            (done_info, states.VOLUME_OP_RUNNING, True),
            (avs.create_info(volume_id), states.VOLUME_OP_RUNNING, False),
            (avs.create_info(volume_id), states.VOLUME_OP_QUEUED, False)):
        op = avs.manager._volume_operation(avs.context, "create", volume_id,
                                           info["snapshot_id"], info)
        op.host = "test-host"
        op.server_id = server.id
        op.disk = "vdb"
        op.status = status
        op.create()
        records.append(op)
        if switched:
            avs.env.driver.volumes.create(avs.context, server, volume_id, info,
                                          lambda p: None)
    # A release before turns held the server's lock for them.
    locked = avs.env.server(server.id)
    locked.begin_task(states.VOLUME_SNAPSHOTTING, uuidutils.generate_uuid())
    # The restart.
    recovery.recover(avs.env.compute, avs.env.context)
    assert avs.env.server(server.id).task_state is None
    by_snapshot = {c[1]: c for c in avs.cinder.calls}
    assert by_snapshot[records[0].snapshot_id][2:] == ("creating", "90%")
    assert by_snapshot[records[1].snapshot_id][2:] == ("error", "90%")
    assert by_snapshot[records[2].snapshot_id][2:] == ("error", "90%")
    ended = {op.id: op for op in avs.operations()}
    assert ended[records[0].id].status == states.VOLUME_OP_SUCCEEDED
    assert ended[records[1].id].status == states.VOLUME_OP_FAILED
    assert "restart" in ended[records[1].id].fault["message"]
    assert ended[records[2].id].status == states.VOLUME_OP_FAILED
    assert ended[records[2].id].fault["message"] == (
        "interrupted by a restart of the service before it started; nothing "
        "was done to the volume")
    # No request behind a restart: the calls use [cinder]'s credentials.
    assert not any(c is not None and c.auth_token for c in avs.cinder.contexts)


def test_records_older_than_the_retention_go_when_a_new_request_comes(avs, config):
    server, volume_id = avs.server_with_volume()

    def one_create():
        avs.create(volume_id)
        for op in avs.operations():
            avs.wait_finished(op.id)
        avs.env.wait_idle(server.id)
        return {op.id for op in avs.operations()}

    [old] = one_create()
    db.volume_operation_update(avs.env.context, old, {
        "created_at": timeutils.utcnow() - datetime.timedelta(days=31)})
    kept = one_create()
    assert old not in kept and len(kept) == 1
    config("assisted_volume_records_days", 0)  # 0 keeps every record
    [newer] = kept
    db.volume_operation_update(avs.env.context, newer, {
        "created_at": timeutils.utcnow() - datetime.timedelta(days=400)})
    assert newer in one_create()

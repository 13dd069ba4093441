"""The manager with the fake driver and a real database: lifecycle of servers
and snapshots, the one-task-per-server lock, failures, delete, revert, export."""

import hashlib
import os
import time

from oslo_utils import uuidutils
import pytest

from nativesnap.api.views import snapshots as snapshot_view
from nativesnap.common import states
from nativesnap.db import api as db
from nativesnap import exception
from nativesnap.objects import server as server_obj
from tests.unit.compute.conftest import assert_no_task_left


class FakeRequest:
    def base_url(self):
        return "http://nativesnap.test"


def test_adopt_records_the_drivers_object_with_its_capabilities(env):
    server = env.adopt("vm-1", name=None)
    again = env.server(server.id)
    assert (again.name, again.hypervisor_ref, again.status, again.origin,
            again.host, again.project_id) == (
        "vm-1", "vm-1", states.ACTIVE, states.ADOPTED, "test-host", "p1")
    assert again.capabilities == {name: True for name in
                                  ("memory", "quiesce", "revert_any", "tree",
                                   "linked_spawn", "export")}
    with pytest.raises(exception.AlreadyAdopted) as info:
        env.adopt("vm-1")
    assert server.id in str(info.value)


def test_adopt_of_a_missing_object_is_refused_with_400(env):
    with pytest.raises(exception.HypervisorObjectNotFound) as info:
        env.adopt("missing-vm")
    assert info.value.code == 400
    assert list(server_obj.ServerList.get_all(env.context)) == []


def test_create_snapshot_answers_creating_then_becomes_available_with_driver_values(
        env):
    server = env.adopt()
    answer = env.manager.create_snapshot(env.context, env.server(server.id),
                                         "first", description="d",
                                         quiesce=states.QUIESCE_PREFERRED)
    assert answer.status == states.CREATING
    assert answer.progress == 0
    env.wait_idle(server.id)
    snap = env.snapshot(answer.id)
    assert snap.status == states.AVAILABLE
    assert snap.progress == 100
    assert (snap.name, snap.description, snap.project_id, snap.user_id) == (
        "first", "d", "p1", "alice")
    # What the fake driver's SnapshotResult said:
    assert snap.kind == states.KIND_EXTERNAL
    assert snap.consistency == states.CONSISTENCY_APPLICATION
    assert (snap.frozen_ms, snap.paused_ms, snap.size_bytes) == (1, 0, 0)
    assert snap.disks == [{"target": "vda", "file": f"{snap.id}.qcow2"}]
    assert "elapsed_ms" in snap.driver_info
    assert snap.fault is None
    assert snap.parent_id is None
    after = env.server(server.id)
    assert after.current_snapshot_id == snap.id
    assert (after.task_state, after.task_id, after.task_target_id) == (
        None, None, None)
    assert env.fake_object("vm-1")["snapshots"] == [snap.id]


def test_memory_snapshot_records_memory_consistency(env):
    server = env.adopt()
    snap = env.create(server.id, memory=True, kind=states.KIND_INTERNAL,
                      quiesce=states.QUIESCE_OFF)
    assert (snap.memory, snap.kind, snap.consistency, snap.paused_ms) == (
        True, states.KIND_INTERNAL, states.CONSISTENCY_MEMORY, 1)


def test_snapshots_form_a_tree_under_the_current_snapshot(env):
    server = env.adopt()
    s1 = env.create(server.id, "s1")
    s2 = env.create(server.id, "s2")
    assert s2.parent_id == s1.id
    env.manager.revert_server(env.context, env.server(server.id), s1, True)
    env.wait_idle(server.id)
    s3 = env.create(server.id, "s3")
    assert s3.parent_id == s1.id  # a branch: s1 -> {s2, s3}
    current = env.server(server.id).current_snapshot_id
    assert current == s3.id
    views = {s.id: snapshot_view.show(FakeRequest(), s, current)
             for s in env.snapshots(server.id)}
    assert {sid for sid, v in views.items() if v["is_current"]} == {s3.id}
    assert {sid: v["parent_id"] for sid, v in views.items()} == {
        s1.id: None, s2.id: s1.id, s3.id: s1.id}


def test_names_with_xml_shell_and_path_characters_are_stored_unchanged(env):
    name = "<a&b>'\"; rm -rf / ../.."
    server = env.adopt()
    snap = env.create(server.id, name, description=name)
    assert (snap.name, snap.description) == (name, name)


def test_second_mutating_call_while_a_task_runs_is_server_busy_naming_it(env):
    server = env.adopt("slow-vm")
    first = env.create(server.id, "first")  # something to revert/delete/export
    running = env.manager.create_snapshot(env.context, env.server(server.id),
                                          "second")
    assert env.server(server.id).task_state == states.SNAPSHOTTING
    calls = {
        "create": lambda s: env.manager.create_snapshot(env.context, s, "third"),
        "delete": lambda s: env.manager.delete_snapshot(env.context, s, first),
        "revert": lambda s: env.manager.revert_server(env.context, s, first,
                                                      True),
        "export": lambda s: env.manager.export_snapshot(env.context, s, first,
                                                        "img", "qcow2"),
        "delete_server": lambda s: env.manager.delete_server(env.context, s),
    }
    for what, call in calls.items():
        with pytest.raises(exception.ServerBusy) as info:
            call(env.server(server.id))
        assert info.value.code == 409, what
        assert "snapshotting" in str(info.value), what
        assert server.id in str(info.value), what
    # The refused requests changed nothing: no record was made, none moved.
    assert sorted(s.name for s in env.snapshots(server.id)) == ["first", "second"]
    assert env.snapshot(first.id).status == states.AVAILABLE
    assert env.images(first.id) == []
    env.wait_idle(server.id)
    assert env.snapshot(running.id).status == states.AVAILABLE


def test_progress_is_recorded_while_a_task_runs(env):
    server = env.adopt("slow-vm")
    snap = env.manager.create_snapshot(env.context, env.server(server.id), "s")
    deadline = time.monotonic() + 10
    seen = set()
    while env.server(server.id).task_state is not None:
        seen.add(env.snapshot(snap.id).progress)
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert any(0 < p < 100 for p in seen), seen
    assert env.snapshot(snap.id).progress == 100


def test_failed_create_records_error_with_fault_and_releases_the_server(env):
    server = env.adopt("fail-vm")
    # The hypervisor says the guest is paused now; the record still says ACTIVE.
    env.driver._update("fail-vm", lambda o: o.update(status=states.PAUSED))
    snap = env.create(server.id, "doomed")
    assert snap.status == states.ERROR
    assert snap.fault["code"] == 500
    assert "injected failure" in snap.fault["message"]
    assert "create_snapshot" in snap.fault["message"]
    after = env.server(server.id)
    assert (after.task_state, after.task_id) == (None, None)
    assert after.status == states.PAUSED  # taken from the driver
    assert after.current_snapshot_id is None
    # An errored snapshot can be deleted (error -> deleting).
    assert env.manager.delete_snapshot(env.context, after, snap).status == (
        states.DELETING)


def test_refused_snapshot_request_makes_no_record(env):
    server = env.adopt()
    with pytest.raises(exception.UnsupportedOperation) as info:
        env.manager.create_snapshot(env.context, env.server(server.id), "s",
                                    include_volumes=True)
    assert "fake" in str(info.value) and "create_snapshot" in str(info.value)
    with pytest.raises(exception.Invalid):
        env.manager.create_snapshot(env.context, env.server(server.id), "s",
                                    kind=states.KIND_INTERNAL,
                                    quiesce=states.QUIESCE_REQUIRED)
    assert env.snapshots(server.id) == []
    assert env.server(server.id).task_state is None


def test_task_timeout_records_failure_and_releases_the_server(env, config):
    config("task_timeout", 1)
    config("hang_seconds", 3.0, group="fake")
    server = env.adopt("hang-vm")  # blocks 3 s, ignoring cancellation
    snap = env.create(server.id, "stuck")
    # Recorded while the driver call is still stuck: the timeout did not wait
    # for it.
    assert [t.name for t in env.runner.running()] == ["create_snapshot"]
    assert snap.status == states.ERROR
    assert "did not finish within 1 s" in snap.fault["message"]
    assert env.server(server.id).task_state is None
    # When the stuck call returns, nothing more is recorded.
    assert env.runner.shutdown(10) == []
    assert env.snapshot(snap.id).status == states.ERROR
    assert env.server(server.id).current_snapshot_id is None


def test_delete_removes_the_row_reparents_children_and_moves_current(env):
    server = env.adopt()
    s1 = env.create(server.id, "s1")
    s2 = env.create(server.id, "s2")
    s3 = env.create(server.id, "s3")
    # Delete the middle one: its child hangs under its parent.
    answer = env.manager.delete_snapshot(env.context, env.server(server.id), s2)
    assert answer.status == states.DELETING
    env.wait_idle(server.id)
    with pytest.raises(exception.SnapshotNotFound):
        env.snapshot(s2.id)
    assert env.snapshot(s3.id).parent_id == s1.id
    assert env.server(server.id).current_snapshot_id == s3.id
    # Delete the current one: current moves to its parent.
    env.manager.delete_snapshot(env.context, env.server(server.id),
                                env.snapshot(s3.id))
    env.wait_idle(server.id)
    assert env.server(server.id).current_snapshot_id == s1.id
    assert env.fake_object("vm-1")["snapshots"] == [s1.id]
    assert [s.id for s in env.snapshots(server.id)] == [s1.id]


def test_failed_delete_records_error_deleting_and_can_be_retried(env):
    server = env.adopt("vm-1")
    snap = env.create(server.id, "s1")
    # The same record now on a hypervisor object that fails every task.
    db.server_update(env.context, server.id, {"hypervisor_ref": "fail-vm"})
    env.manager.delete_snapshot(env.context, env.server(server.id), snap)
    env.wait_idle(server.id)
    failed = env.snapshot(snap.id)
    assert failed.status == states.ERROR_DELETING
    assert "injected failure" in failed.fault["message"]
    db.server_update(env.context, server.id, {"hypervisor_ref": "vm-1"})
    env.manager.delete_snapshot(env.context, env.server(server.id), failed)
    env.wait_idle(server.id)
    with pytest.raises(exception.SnapshotNotFound):
        env.snapshot(snap.id)


def test_delete_of_a_snapshot_being_created_is_refused_by_the_state_machine(env):
    server = env.adopt("slow-vm")
    snap = env.manager.create_snapshot(env.context, env.server(server.id), "s")
    with pytest.raises(exception.Conflict):
        env.manager.delete_snapshot(env.context, env.server(server.id), snap)
    env.wait_idle(server.id)


def test_delete_with_a_linked_dependent_is_refused_naming_it(env):
    server = env.adopt()
    snap = env.create(server.id, "base")
    clone = env.manager.spawn_server(env.context, snap, "clone", linked=True,
                                     power_on=True)
    assert clone.status == states.BUILD
    spawned = env.wait_idle(clone.id)
    assert (spawned.status, spawned.origin, spawned.source_snapshot_id,
            spawned.linked) == (states.ACTIVE, states.SPAWNED, snap.id, True)
    assert spawned.hypervisor_ref == f"spawned-{clone.id}"
    with pytest.raises(exception.SnapshotInUse) as info:
        env.manager.delete_snapshot(env.context, env.server(server.id), snap)
    assert info.value.code == 409
    assert clone.id in str(info.value) and "clone" in str(info.value)
    assert env.snapshot(snap.id).status == states.AVAILABLE
    assert env.server(server.id).task_state is None
    # Once the dependent is gone the snapshot can go.
    env.manager.delete_server(env.context, env.server(clone.id))
    with pytest.raises(exception.ServerNotFound):
        env.server(clone.id)
    env.manager.delete_snapshot(env.context, env.server(server.id), snap)
    env.wait_idle(server.id)
    with pytest.raises(exception.SnapshotNotFound):
        env.snapshot(snap.id)


def test_delete_while_a_spawn_reads_the_snapshot_is_refused(env, config):
    config("task_delay", 1.0, group="fake")
    server = env.adopt("slow-vm")
    snap = env.create(server.id, "base")
    env.wait_idle(server.id)
    copy = env.manager.spawn_server(env.context, snap, "copy", linked=False,
                                    power_on=True)
    # A spawn in progress reads the snapshot (a bare-metal one writes its
    # stored image onto the node) until it has finished.
    with pytest.raises(exception.SnapshotInUse) as info:
        env.manager.delete_snapshot(env.context, env.server(server.id), snap)
    assert info.value.code == 409 and copy.id in str(info.value)
    assert env.snapshot(snap.id).status == states.AVAILABLE
    env.wait_idle(copy.id)
    env.manager.delete_snapshot(env.context, env.server(server.id), snap)
    env.wait_idle(server.id)


def test_full_spawn_is_no_dependent(env):
    server = env.adopt()
    snap = env.create(server.id, "base")
    clone = env.manager.spawn_server(env.context, snap, "copy", linked=False,
                                     power_on=False)
    assert env.wait_idle(clone.id).status == states.SHUTOFF
    env.manager.delete_snapshot(env.context, env.server(server.id), snap)
    env.wait_idle(server.id)
    with pytest.raises(exception.SnapshotNotFound):
        env.snapshot(snap.id)


def test_revert_sets_current_and_the_status_the_driver_reports(env):
    server = env.adopt()
    s1 = env.create(server.id, "s1")
    env.create(server.id, "s2")
    env.manager.revert_server(env.context, env.server(server.id), s1,
                              power_on=False)
    after = env.wait_idle(server.id)
    assert after.current_snapshot_id == s1.id
    assert after.status == states.SHUTOFF
    assert env.fake_object("vm-1")["current"] == s1.id


def test_revert_to_another_servers_snapshot_is_refused(env):
    a = env.adopt("vm-a")
    b = env.adopt("vm-b")
    snap = env.create(a.id, "of-a")
    with pytest.raises(exception.SnapshotNotOfServer):
        env.manager.revert_server(env.context, env.server(b.id), snap, True)
    assert env.server(b.id).task_state is None


def test_export_writes_the_image_named_by_uuid_with_size_and_sha256(env):
    server = env.adopt()
    snap = env.create(server.id, "s1")
    label = "<a&b>'\"; rm -rf / ../.."
    answer = env.manager.export_snapshot(env.context, env.server(server.id), snap,
                                         label, "qcow2")
    assert answer.status == states.IMAGE_SAVING
    assert uuidutils.is_uuid_like(answer.id)
    env.wait_idle(server.id)
    [image] = env.images(snap.id)
    assert image.id == answer.id
    assert image.status == states.IMAGE_ACTIVE
    assert image.name == label
    path = os.path.join(env.store.path, f"{image.id}.qcow2")
    assert image.location == "file://" + path
    with open(path, "rb") as f:
        data = f.read()
    assert data == f"fake disk state of snapshot {snap.id}\n".encode()
    assert image.size_bytes == len(data)
    assert image.sha256 == hashlib.sha256(data).hexdigest()
    assert image.progress == 100
    # Only the UUID-named file is in the store; nothing is left in staging.
    assert sorted(os.listdir(env.store.path)) == [".staging", f"{image.id}.qcow2"]
    assert os.listdir(os.path.join(env.store.path, ".staging")) == []


def test_export_of_an_unavailable_snapshot_is_refused(env):
    server = env.adopt("fail-vm")
    snap = env.create(server.id, "broken")
    with pytest.raises(exception.SnapshotNotAvailable) as info:
        env.manager.export_snapshot(env.context, env.server(server.id), snap,
                                    "img", "qcow2")
    assert info.value.code == 409
    assert env.images(snap.id) == []


def test_overloaded_runner_refuses_with_503_and_records_nothing(env):
    server = env.adopt()

    class FullRunner:
        def reserve(self):
            raise exception.ServiceUnavailable(reason="too many tasks")

    env.compute.runner = FullRunner()
    with pytest.raises(exception.ServiceUnavailable):
        env.manager.create_snapshot(env.context, env.server(server.id), "s")
    assert env.snapshots(server.id) == []
    assert env.server(server.id).task_state is None
    assert_no_task_left(env.context)

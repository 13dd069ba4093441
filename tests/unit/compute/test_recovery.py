"""Start-up recovery: tasks a crash interrupted are finished or rolled back as
the fake driver's reconcile says; nothing is left creating, deleting or
saving, and no server keeps a task lock.

A crash is simulated exactly where it happens in production: the manager has
taken the task lock and written its records (in one transaction), and then the
process dies, either before the driver ran (``NeverRuns``) or after the driver
finished but before the outcome was recorded (``DiesAfterDriver``).
"""

import os
from unittest import mock

import pytest

from nativesnap.common import states
from nativesnap.compute import tasks
from nativesnap.db import api as db
from nativesnap import exception
from nativesnap.objects import image as image_obj
from tests.unit.compute.conftest import assert_no_task_left


class StubRunner:
    """A task runner that takes every task (the tests decide what runs)."""

    def reserve(self):
        return "reserved"

    def unreserve(self, token):
        pass

    def submit(self, task, reservation=None):
        pass


class NeverRuns(StubRunner):
    """The process died right after the request was accepted."""


class DiesAfterDriver(StubRunner):
    """The driver call completed; the process died before recording it.
    With ``only``, just tasks of those names get that far."""

    def __init__(self, only=None):
        self.only = only

    def submit(self, task, reservation=None):
        if self.only is None or task.name in self.only:
            task._work(task)


def recover(env):
    """Start a new service process on the same database and state."""
    return env.restart().init_host()


def assert_nothing_in_flight(env):
    assert_no_task_left(env.context)
    saving = image_obj.ImageList.get_by_status(env.context, (states.IMAGE_SAVING,))
    assert list(saving) == []


def test_snapshot_interrupted_before_the_driver_ran_is_rolled_back_to_error(env):
    server = env.adopt()
    base = env.create(server.id, "base")
    crashed = env.restart(runner=NeverRuns())
    snap = crashed.manager.create_snapshot(env.context, env.server(server.id), "s")
    assert env.server(server.id).task_state == states.SNAPSHOTTING
    assert env.snapshot(snap.id).status == states.CREATING

    after = recover(env)
    assert_nothing_in_flight(after)
    got = after.snapshot(snap.id)
    assert got.status == states.ERROR
    assert "interrupted by a restart" in got.fault["message"]
    assert "no snapshot was found" in got.fault["message"]
    srv = after.server(server.id)
    assert (srv.task_state, srv.task_id, srv.status) == (None, None, states.ACTIVE)
    assert srv.current_snapshot_id == base.id


def test_snapshot_the_driver_completed_before_the_crash_is_rolled_forward(env):
    server = env.adopt()
    base = env.create(server.id, "base")
    crashed = env.restart(runner=DiesAfterDriver())
    snap = crashed.manager.create_snapshot(env.context, env.server(server.id), "s")
    assert env.snapshot(snap.id).status == states.CREATING

    after = recover(env)
    assert_nothing_in_flight(after)
    got = after.snapshot(snap.id)
    assert got.status == states.AVAILABLE
    assert got.progress == 100
    assert got.fault is None
    assert (got.kind, got.consistency) == (states.KIND_EXTERNAL,
                                           states.CONSISTENCY_CRASH)
    assert got.parent_id == base.id
    srv = after.server(server.id)
    assert srv.task_state is None
    assert srv.current_snapshot_id == snap.id


def test_delete_interrupted_before_the_driver_ran_becomes_error_deleting(env):
    server = env.adopt()
    snap = env.create(server.id, "s")
    crashed = env.restart(runner=NeverRuns())
    crashed.manager.delete_snapshot(env.context, env.server(server.id), snap)
    assert env.snapshot(snap.id).status == states.DELETING

    after = recover(env)
    assert_nothing_in_flight(after)
    got = after.snapshot(snap.id)
    assert got.status == states.ERROR_DELETING
    assert "delete it again" in got.fault["message"]
    assert after.server(server.id).current_snapshot_id == snap.id
    # ... and it can be deleted again (error_deleting -> deleting).
    after.manager.delete_snapshot(after.context, after.server(server.id), got)
    after.wait_idle(server.id)
    with pytest.raises(exception.SnapshotNotFound):
        after.snapshot(snap.id)


def test_delete_the_driver_completed_before_the_crash_is_finished(env):
    server = env.adopt()
    s1 = env.create(server.id, "s1")
    s2 = env.create(server.id, "s2")
    s3 = env.create(server.id, "s3")
    env.manager.revert_server(env.context, env.server(server.id), s2, True)
    env.wait_idle(server.id)  # current: s2, which has child s3
    crashed = env.restart(runner=DiesAfterDriver())
    crashed.manager.delete_snapshot(env.context, env.server(server.id), s2)

    after = recover(env)
    assert_nothing_in_flight(after)
    with pytest.raises(exception.SnapshotNotFound):
        after.snapshot(s2.id)
    assert after.snapshot(s3.id).parent_id == s1.id  # reparented
    assert after.server(server.id).current_snapshot_id == s1.id  # to the parent


def test_interrupted_revert_ends_as_the_driver_reports(env):
    server = env.adopt()
    s1 = env.create(server.id, "s1")
    env.create(server.id, "s2")
    crashed = env.restart(runner=DiesAfterDriver())
    crashed.manager.revert_server(env.context, env.server(server.id), s1,
                                  power_on=False)
    assert env.server(server.id).task_state == states.REVERTING

    after = recover(env)
    assert_nothing_in_flight(after)
    srv = after.server(server.id)
    assert srv.current_snapshot_id == s1.id
    assert srv.status == states.SHUTOFF  # what the hypervisor now says
    assert srv.fault is None


def test_spawn_interrupted_before_the_driver_ran_ends_in_error(env):
    server = env.adopt()
    snap = env.create(server.id, "base")
    crashed = env.restart(runner=NeverRuns())
    clone = crashed.manager.spawn_server(env.context, snap, "clone", linked=True,
                                         power_on=True)
    assert env.server(clone.id).task_state == states.SPAWNING
    assert env.server(clone.id).status == states.BUILD

    after = recover(env)
    assert_nothing_in_flight(after)
    got = after.server(clone.id)
    # The fake's reconcile finds no new object: rolled back.
    assert (got.task_state, got.status) == (None, states.SERVER_ERROR)
    assert "interrupted by a restart" in got.fault["message"]
    assert "never created" in got.fault["message"]
    # The errored record can be deleted (nothing was built to destroy).
    after.manager.delete_server(after.context, got)
    with pytest.raises(exception.ServerNotFound):
        after.server(clone.id)


def test_spawn_the_driver_completed_before_the_crash_is_rolled_forward(env):
    server = env.adopt()
    snap = env.create(server.id, "base")
    crashed = env.restart(runner=DiesAfterDriver())
    clone = crashed.manager.spawn_server(env.context, snap, "clone", linked=True,
                                         power_on=False)
    assert env.server(clone.id).hypervisor_ref == f"building:{clone.id}"

    after = recover(env)
    assert_nothing_in_flight(after)
    got = after.server(clone.id)
    assert (got.task_state, got.status, got.fault) == (None, states.SHUTOFF, None)
    assert got.hypervisor_ref == f"spawned-{clone.id}"
    # It is a linked clone of the snapshot now.
    with pytest.raises(exception.SnapshotInUse):
        after.manager.delete_snapshot(after.context, after.server(server.id), snap)


def test_interrupted_export_marks_the_image_error_and_removes_its_file(env):
    server = env.adopt()
    snap = env.create(server.id, "s")
    crashed = env.restart(runner=DiesAfterDriver())
    image = crashed.manager.export_snapshot(env.context, env.server(server.id),
                                            snap, "img", "qcow2")
    final = os.path.join(env.store.path, f"{image.id}.qcow2")
    assert os.path.exists(final)  # the work was done, its record was not

    after = recover(env)
    assert_nothing_in_flight(after)
    [got] = after.images(snap.id)
    assert got.status == states.IMAGE_ERROR
    assert "export the snapshot again" in got.fault["message"]
    assert not os.path.exists(final)
    srv = after.server(server.id)
    assert (srv.task_state, srv.status) == (None, states.ACTIVE)


def test_interrupted_server_delete_is_finished(env):
    server = env.adopt()
    env.create(server.id, "s")
    srv = env.server(server.id)
    srv.begin_task(states.DELETING_SERVER, "0b1a4c8e-7f0e-4c38-9a55-9d5f4f1e2c3a")

    after = recover(env)
    assert_nothing_in_flight(after)
    with pytest.raises(exception.ServerNotFound):
        after.server(server.id)
    assert after.snapshots(server.id) == []


def test_recovery_of_many_interrupted_tasks_leaves_nothing_in_flight(env):
    a, b, c, d, e = (env.adopt(f"vm-{n}") for n in "abcde")
    snap_b = env.create(b.id, "b1")
    snap_c = env.create(c.id, "c1")
    snap_d = env.create(d.id, "d1")
    # A record left creating without a lock (a crash between two saves).
    orphan = env.create(e.id, "e1")
    db.snapshot_update(env.context, orphan.id, {"status": states.CREATING})
    # One process dies with five tasks in flight: two had finished their driver
    # work, three had not started it.
    crashed = env.restart(runner=DiesAfterDriver(
        only={"delete_snapshot", "export_snapshot"}))
    creating = crashed.manager.create_snapshot(env.context, env.server(a.id), "a1")
    crashed.manager.delete_snapshot(env.context, env.server(b.id), snap_b)
    crashed.manager.revert_server(env.context, env.server(c.id), snap_c, True)
    image = crashed.manager.export_snapshot(env.context, env.server(d.id), snap_d,
                                            "img", "qcow2")
    clone = crashed.manager.spawn_server(env.context, snap_c, "clone", True, True)

    after = recover(env)
    assert_nothing_in_flight(after)
    assert after.snapshot(creating.id).status == states.ERROR
    with pytest.raises(exception.SnapshotNotFound):
        after.snapshot(snap_b.id)
    assert after.server(c.id).current_snapshot_id == snap_c.id
    assert after.images(snap_d.id)[0].status == states.IMAGE_ERROR
    assert after.images(snap_d.id)[0].id == image.id
    assert after.server(clone.id).status == states.SERVER_ERROR  # never spawned
    assert after.snapshot(orphan.id).status == states.AVAILABLE  # on the fake
    # Every server takes new tasks again.
    for server in (a, b, c, d, e):
        after.create(server.id, "after-recovery")
        assert after.server(server.id).task_state is None


class ProcessDied(BaseException):
    """A process that dies runs none of its own error handling (the manager
    reconciles an outcome it failed to save, which a dead one cannot)."""


def dies_before_releasing_the_lock(env):
    """A manager whose process dies after the task's outcome was recorded in
    the database up to, but not including, the release of the task lock."""
    def die(*args, **kwargs):
        raise ProcessDied()

    class RunsAtOnce(StubRunner):
        def submit(self, task, reservation=None):
            with mock.patch.object(tasks.ServerTask, "release", die):
                try:
                    task.run()
                except ProcessDied:
                    pass  # nothing of the dead process runs any more

    return env.restart(runner=RunsAtOnce())


def test_crash_before_the_lock_release_of_a_create_still_makes_it_current(env):
    server = env.adopt()
    base = env.create(server.id, "base")
    crashed = dies_before_releasing_the_lock(env)
    snap = crashed.manager.create_snapshot(env.context, env.server(server.id), "s")
    assert env.server(server.id).task_state == states.SNAPSHOTTING

    after = recover(env)
    assert_nothing_in_flight(after)
    assert after.snapshot(snap.id).status == states.AVAILABLE
    assert after.snapshot(snap.id).parent_id == base.id
    # The hypervisor runs on the new snapshot: it is the current one.
    assert after.server(server.id).current_snapshot_id == snap.id


def test_crash_before_the_lock_release_of_a_delete_moves_current_to_parent(env):
    server = env.adopt()
    s1 = env.create(server.id, "s1")
    s2 = env.create(server.id, "s2")
    crashed = dies_before_releasing_the_lock(env)
    crashed.manager.delete_snapshot(env.context, env.server(server.id), s2)
    assert env.server(server.id).task_state == states.DELETING_SNAPSHOT

    after = recover(env)
    assert_nothing_in_flight(after)
    with pytest.raises(exception.SnapshotNotFound):
        after.snapshot(s2.id)
    # current never names a snapshot that no longer exists.
    assert after.server(server.id).current_snapshot_id == s1.id
    assert after.create(server.id, "s3").parent_id == s1.id


# --- an outcome that cannot be saved is reconciled at once -------------------
# ``manager.<op>.before_db_save=error`` fails the save of a finished task's
# outcome, as a database failing at that moment would: the task is reconciled
# in the running service as start-up recovery would after a crash, instead of
# leaving the server locked until a restart.


@pytest.fixture
def failing_save():
    from nativesnap.common import failpoints

    yield lambda op: failpoints.configure([f"manager.{op}.before_db_save=error"])
    failpoints.configure([])


def test_a_create_whose_outcome_cannot_be_saved_is_rolled_forward_at_once(
        env, failing_save):
    server = env.adopt()
    failing_save("create")
    snap = env.create(server.id, "s")
    assert snap.status == states.AVAILABLE and snap.fault is None
    srv = env.server(server.id)
    assert (srv.task_state, srv.current_snapshot_id) == (None, snap.id)
    assert_nothing_in_flight(env)


def test_a_delete_whose_outcome_cannot_be_saved_is_finished_at_once(
        env, failing_save):
    server = env.adopt()
    base = env.create(server.id, "base")
    top = env.create(server.id, "top")
    failing_save("delete")
    env.manager.delete_snapshot(env.context, env.server(server.id), top)
    srv = env.wait_idle(server.id)
    assert [s.id for s in env.snapshots(server.id)] == [base.id]
    assert srv.current_snapshot_id == base.id
    assert_nothing_in_flight(env)


def test_a_revert_whose_outcome_cannot_be_saved_is_recorded_at_once(
        env, failing_save):
    server = env.adopt()
    first = env.create(server.id, "first")
    env.create(server.id, "second")
    failing_save("revert")
    env.manager.revert_server(env.context, env.server(server.id), first, True)
    srv = env.wait_idle(server.id)
    assert (srv.current_snapshot_id, srv.fault) == (first.id, None)
    assert_nothing_in_flight(env)


def test_a_spawn_whose_outcome_cannot_be_saved_keeps_its_new_server(
        env, failing_save):
    server = env.adopt()
    snap = env.create(server.id, "s")
    failing_save("spawn")
    clone = env.manager.spawn_server(env.context, snap, "clone", linked=True,
                                     power_on=True)
    got = env.wait_idle(clone.id)
    assert got.hypervisor_ref == f"spawned-{clone.id}"
    assert got.status == states.ACTIVE and got.fault is None
    assert_nothing_in_flight(env)


def test_an_export_whose_outcome_cannot_be_saved_fails_without_a_file(
        env, failing_save):
    server = env.adopt()
    snap = env.create(server.id, "s")
    failing_save("export")
    image = env.manager.export_snapshot(env.context, env.server(server.id), snap,
                                        "img", "qcow2")
    env.wait_idle(server.id)
    (got,) = env.images(snap.id)
    assert got.id == image.id and got.status == states.IMAGE_ERROR
    assert "could not be saved" in got.fault["message"]
    assert not os.path.exists(env.store.final_path(image.id, "qcow2"))
    assert not os.path.exists(env.store.staging_path(image.id, "qcow2"))
    assert_nothing_in_flight(env)

"""Tasks that wait for an outside event, with the fake driver's ``wait-*``
servers: the wait holds the server's lock in its wait state with a deadline
but no worker; the event resumes the task, the deadline fails it with a
clear fault, and a restart in between loses neither."""

import time

import pytest

from nativesnap.common import states
from nativesnap import exception
from tests.unit.compute.conftest import WAIT
from tests.unit.compute.conftest import assert_no_task_left


def wait_for_task_state(env, server_id, task_state):
    deadline = time.monotonic() + WAIT
    while True:
        server = env.server(server_id)
        if server.task_state == task_state:
            return server
        assert time.monotonic() < deadline, (
            f"server {server_id} is {server.task_state}, not {task_state}")
        time.sleep(0.02)


def start_waiting_snapshot(env, ref="wait-vm"):
    server = env.adopt(ref)
    snap = env.manager.create_snapshot(env.context, env.server(server.id), "s")
    waiting = wait_for_task_state(env, server.id, states.SNAPSHOT_WAIT)
    return waiting, snap


def test_a_waiting_task_holds_the_lock_but_no_worker_and_resumes_on_its_event(
        env, config):
    config("wait_seconds", 30.0, group="fake")
    server, snap = start_waiting_snapshot(env)
    assert env.runner.running() == []  # no worker blocked for the wait
    assert server.task_wait_info["reason"] == "the fake's outside event"
    assert server.task_wait_until is not None
    assert env.snapshot(snap.id).status == states.CREATING
    # Another request meanwhile finds the server busy with the waiting task.
    with pytest.raises(exception.ServerBusy) as info:
        env.manager.create_snapshot(env.context, env.server(server.id), "other")
    assert states.SNAPSHOT_WAIT in str(info.value)

    env.manager.resume_task(env.context, env.server(server.id), {"result": "ok"})
    done = env.wait_idle(server.id)
    assert env.snapshot(snap.id).status == states.AVAILABLE
    assert done.current_snapshot_id == snap.id
    assert (done.task_wait_until, done.task_wait_info) == (None, None)
    assert_no_task_left(env.context)


def test_an_event_may_make_the_task_wait_again_then_finish(env, config):
    config("wait_seconds", 30.0, group="fake")
    server, snap = start_waiting_snapshot(env)
    first_deadline = server.task_wait_until
    env.manager.resume_task(env.context, server, {"result": "again"})
    deadline = time.monotonic() + WAIT
    while env.server(server.id).task_wait_until in (None, first_deadline):
        assert time.monotonic() < deadline, "the task did not wait again"
        time.sleep(0.02)
    assert env.server(server.id).task_state == states.SNAPSHOT_WAIT
    env.manager.resume_task(env.context, env.server(server.id), {"result": "ok"})
    env.wait_idle(server.id)
    assert env.snapshot(snap.id).status == states.AVAILABLE


def test_an_event_saying_it_failed_ends_the_snapshot_in_error(env, config):
    config("wait_seconds", 30.0, group="fake")
    server, snap = start_waiting_snapshot(env)
    env.manager.resume_task(env.context, server, {"result": "fail"})
    env.wait_idle(server.id)
    failed = env.snapshot(snap.id)
    assert failed.status == states.ERROR
    assert "the outside event said it failed" in failed.fault["message"]


def test_a_wait_past_its_deadline_fails_with_a_fault_naming_what_did_not_come(
        env, config):
    config("wait_seconds", 0.5, group="fake")
    server, snap = start_waiting_snapshot(env)
    after = env.wait_idle(server.id)  # the compute's wait check, every second
    failed = env.snapshot(snap.id)
    assert failed.status == states.ERROR
    assert failed.fault["message"] == (
        f"Task create_snapshot on server {server.id} waited 0.5 s for the "
        "fake's outside event, which did not come.")
    assert after.current_snapshot_id is None and after.status == states.ACTIVE
    # An event that comes too late changes nothing.
    with pytest.raises(exception.Conflict):
        env.manager.resume_task(env.context, after, {"result": "ok"})
    assert env.snapshot(snap.id).status == states.ERROR
    assert_no_task_left(env.context)


def test_a_restart_while_waiting_keeps_the_wait_and_the_event_still_resumes_it(
        env, config):
    config("wait_seconds", 30.0, group="fake")
    server, snap = start_waiting_snapshot(env)
    after = env.restart().init_host()  # start-up recovery leaves waits alone
    assert after.server(server.id).task_state == states.SNAPSHOT_WAIT
    assert after.snapshot(snap.id).status == states.CREATING
    after.manager.resume_task(after.context, after.server(server.id),
                              {"result": "ok"})
    after.wait_idle(server.id)
    assert after.snapshot(snap.id).status == states.AVAILABLE
    assert after.server(server.id).current_snapshot_id == snap.id


def test_a_deadline_that_passes_while_the_service_is_down_fails_the_task(
        env, config):
    config("wait_seconds", 1.0, group="fake")
    server, snap = start_waiting_snapshot(env)
    env.compute.stop_serving()  # the service is down past the deadline
    time.sleep(1.2)
    assert env.server(server.id).task_state == states.SNAPSHOT_WAIT
    after = env.restart().init_host()
    after.wait_idle(server.id)
    failed = after.snapshot(snap.id)
    assert failed.status == states.ERROR
    assert "which did not come" in failed.fault["message"]
    assert_no_task_left(after.context)


def test_an_event_for_a_server_whose_task_does_not_wait_answers_409(env):
    server = env.adopt()
    with pytest.raises(exception.Conflict) as info:
        env.manager.resume_task(env.context, env.server(server.id), {})
    assert info.value.code == 409 and "no task waiting" in str(info.value)


def test_an_abort_fails_the_waiting_task_at_once_saying_so(env, config):
    config("wait_seconds", 30.0, group="fake")
    server, snap = start_waiting_snapshot(env)
    env.compute.abort_task(env.context, env.server(server.id))
    done = env.wait_idle(server.id)
    failed = env.snapshot(snap.id)
    assert failed.status == states.ERROR
    assert "aborted by the user" in failed.fault["message"]
    assert done.task_wait_info is None
    assert_no_task_left(env.context)


def test_an_abort_without_a_waiting_task_does_nothing(env):
    server = env.adopt("vm-idle")
    env.compute.abort_task(env.context, env.server(server.id))
    assert env.server(server.id).task_state is None

"""Queued requests: a busy server's queued mutations wait their turn, in
order, and start when it is free; plain ones still answer 409; a wait that
runs out fails saying so (docs/scheduler.md, "Queued requests")."""

import time

import pytest

from nativesnap.common import states
from nativesnap.compute import queued_requests
from nativesnap import context as ns_context
from nativesnap import exception
from nativesnap.objects import queued_request as queued_obj

WAIT = 15


def _wait_for(predicate, what):
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline, f"no {what} after {WAIT} s"
        time.sleep(0.02)


def _waiting(env, server_id):
    return queued_requests.waiting(ns_context.get_admin_context(), server_id)


def test_queued_create_waits_for_the_running_task_and_runs_after_it(env):
    server = env.adopt("slow-vm")
    running = env.manager.create_snapshot(env.context, env.server(server.id),
                                          "running")
    with pytest.raises(exception.ServerBusy):
        env.manager.create_snapshot(env.context, env.server(server.id), "plain")
    queued = env.manager.create_snapshot(env.context, env.server(server.id),
                                         "queued", queue=True)
    assert env.snapshot(queued.id).status == states.QUEUED
    [request] = _waiting(env, server.id)
    assert (request.action, request.origin, request.user_id) == (
        queued_obj.CREATE_SNAPSHOT, queued_obj.USER, "alice")
    _wait_for(lambda: env.snapshot(queued.id).status == states.AVAILABLE,
              "queued snapshot available")
    first, second = env.snapshot(running.id), env.snapshot(queued.id)
    assert second.parent_id == first.id  # taken after, on top of it
    assert second.user_id == "alice"
    assert _waiting(env, server.id) == []
    assert [s.name for s in env.snapshots(server.id)] == ["running", "queued"]


def test_queued_requests_run_in_the_order_they_were_made(env):
    server = env.adopt("slow-vm")
    base = env.create(server.id, "base")
    env.manager.create_snapshot(env.context, env.server(server.id), "running")
    env.manager.revert_server(env.context, env.server(server.id), base, True,
                              queue=True)
    later = env.manager.create_snapshot(env.context, env.server(server.id),
                                        "after revert", queue=True)
    assert [r.action for r in _waiting(env, server.id)] == [
        queued_obj.REVERT, queued_obj.CREATE_SNAPSHOT]
    _wait_for(lambda: env.snapshot(later.id).status == states.AVAILABLE,
              "the snapshot queued after the revert")
    # Taken after the revert: it rests on the snapshot reverted to.
    assert env.snapshot(later.id).parent_id == base.id


def test_a_queued_request_whose_wait_runs_out_fails_saying_what_it_waited_for(
        env, config):
    config("queue_wait", 1, group="scheduler")
    config("task_delay", 3.0, group="fake")
    server = env.adopt("slow-vm")
    env.manager.create_snapshot(env.context, env.server(server.id), "long")
    queued = env.manager.create_snapshot(env.context, env.server(server.id),
                                         "too late", queue=True)
    _wait_for(lambda: env.snapshot(queued.id).status == states.ERROR,
              "the expired request's snapshot in error")
    fault = env.snapshot(queued.id).fault
    assert fault["code"] == 409
    assert "waited 1 s" in fault["message"] and "queue_wait" in fault["message"]
    assert _waiting(env, server.id) == []


def test_deleting_a_queued_snapshot_removes_it_and_its_request_at_once(env):
    server = env.adopt("slow-vm")
    env.manager.create_snapshot(env.context, env.server(server.id), "running")
    queued = env.manager.create_snapshot(env.context, env.server(server.id),
                                         "queued", queue=True)
    env.manager.delete_snapshot(env.context, env.server(server.id),
                                env.snapshot(queued.id))
    with pytest.raises(exception.SnapshotNotFound):
        env.snapshot(queued.id)
    assert _waiting(env, server.id) == []
    env.wait_idle(server.id)


def test_a_queued_delete_of_a_snapshot_gone_meanwhile_is_dropped(env):
    server = env.adopt("slow-vm")
    target = env.create(server.id, "target")
    env.manager.create_snapshot(env.context, env.server(server.id), "running")
    env.manager.delete_snapshot(env.context, env.server(server.id),
                                env.snapshot(target.id), queue=True)
    env.manager.delete_snapshot(env.context, env.server(server.id),
                                env.snapshot(target.id), queue=True)
    _wait_for(lambda: _waiting(env, server.id) == [], "an empty queue")
    env.wait_idle(server.id)
    with pytest.raises(exception.SnapshotNotFound):
        env.snapshot(target.id)

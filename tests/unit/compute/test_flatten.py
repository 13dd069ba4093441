"""The background flattener (compute/flatten.py) with the fake driver's
flatten replaced by a scripted one: progress is saved on the record, a
restart resumes what was left, a stop cuts a flatten at its next step and
leaves it to be resumed, a failure leaves the record as it was."""

import threading
import time

from nativesnap import context as ns_context
from nativesnap import exception
from tests.unit.compute.conftest import WAIT


def _wait(predicate, what):
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _flattening(env, ref, progress=0, handle="clone-handle"):
    server = env.server(env.adopt(ref=ref).id)
    server.flatten_progress = progress
    server.flatten_ref = handle
    server.save()
    return server


def test_progress_is_saved_in_steps_and_ends_at_100(env, monkeypatch):
    seen = []

    def flatten(context, handle, progress):
        for percent in (1, 3, 10, 40, 99):
            progress(percent)
            seen.append((percent, env.server(server.id).flatten_progress))

    monkeypatch.setattr(env.driver, "flatten", flatten, raising=False)
    server = _flattening(env, "vm-1")
    env.compute.flattener.start_server(env.context, server, "clone-handle")
    _wait(lambda: env.server(server.id).flatten_progress == 100, "the flatten")
    # Saved every SAVE_STEP percent, not at every callback.
    assert seen == [(1, 0), (3, 0), (10, 10), (40, 40), (99, 99)]


def test_a_restarted_service_resumes_the_flattens_left_unfinished(env,
                                                                  monkeypatch):
    done = []
    monkeypatch.setattr(env.driver, "flatten",
                        lambda context, handle, progress: done.append(handle),
                        raising=False)
    left = _flattening(env, "vm-1", progress=35, handle="left-handle")
    finished = _flattening(env, "vm-2", progress=100, handle="done-handle")
    env.compute.flattener.resume(ns_context.get_admin_context())
    _wait(lambda: env.server(left.id).flatten_progress == 100, "the resume")
    assert done == ["left-handle"]
    assert env.server(finished.id).flatten_progress == 100


def test_a_stop_cuts_the_flatten_at_its_next_step_for_the_next_start(
        env, monkeypatch):
    started = threading.Event()

    def flatten(context, handle, progress):
        started.set()
        for step in range(1000):  # bounded: a stop is noticed at a step
            progress(min(step, 50))
            time.sleep(0.01)

    monkeypatch.setattr(env.driver, "flatten", flatten, raising=False)
    server = _flattening(env, "vm-1")
    env.compute.flattener.start_server(env.context, server, "clone-handle")
    assert started.wait(WAIT)
    began = time.monotonic()
    env.compute.flattener.stop()
    assert time.monotonic() - began < 5
    assert env.server(server.id).flatten_progress < 100


def test_a_failed_flatten_leaves_the_record_to_be_resumed(env, monkeypatch):
    ended = threading.Event()

    def flatten(context, handle, progress):
        ended.set()
        raise exception.DriverError(driver="fake", verb="flatten",
                                    reason="the cluster stopped answering")

    monkeypatch.setattr(env.driver, "flatten", flatten, raising=False)
    server = _flattening(env, "vm-1", progress=20)
    env.compute.flattener.start_server(env.context, server, "clone-handle")
    assert ended.wait(WAIT)
    _wait(lambda: not env.compute.flattener.running(), "the flatten to end")
    assert env.server(server.id).flatten_progress == 20

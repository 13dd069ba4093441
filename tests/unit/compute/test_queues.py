"""Turns on a server: one task at a time per server, in arrival order, others
waiting a bounded time; servers do not wait for each other; a task however
it ends gives the turn to the next."""

import threading
import time

from nativesnap.compute import queues
from nativesnap.compute import task_runner
from nativesnap import exception

WAIT = 15


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.events = []
        self.outcomes = {}

    def note(self, event):
        with self.lock:
            self.events.append(event)

    def task(self, name, server="s1", hold=None, fail=False):
        def work(task):
            self.note(("start", name))
            if hold is not None:
                assert hold.wait(WAIT)
            self.note(("end", name))
            if fail:
                raise exception.DriverError(driver="t", verb="work",
                                            reason="it failed")
            return name

        def success(task, value):
            self.outcomes[name] = ("ok", value)

        def failure(task, exc):
            self.outcomes[name] = ("failed", exc)

        return task_runner.Task(f"id-{name}", name, server, work, success,
                                failure, timeout=WAIT)

    def wait_outcomes(self, *names):
        deadline = time.monotonic() + WAIT
        while not all(n in self.outcomes for n in names):
            assert time.monotonic() < deadline, (names, self.outcomes)
            time.sleep(0.01)


def make(workers=4):
    runner = task_runner.TaskRunner(workers=workers, queue_size=8,
                                    cancel_grace=1, watchdog_interval=0.05)
    turns = queues.ServerQueues(
        lambda task, reservation: runner.submit(task, reservation=reservation))
    return runner, turns


def test_tasks_of_one_server_run_one_at_a_time_in_arrival_order():
    runner, turns = make()
    rec = Recorder()
    try:
        names = [f"t{i}" for i in range(6)]
        for name in names:
            turns.submit("s1", rec.task(name), None, wait=WAIT)
        rec.wait_outcomes(*names)
        assert rec.events == [e for n in names for e in (("start", n),
                                                         ("end", n))]
        assert not turns.knows("id-t5")
    finally:
        runner.shutdown(WAIT)


def test_tasks_of_different_servers_do_not_wait_for_each_other():
    runner, turns = make()
    rec = Recorder()
    hold = threading.Event()
    try:
        turns.submit("s1", rec.task("blocked", hold=hold), None, wait=WAIT)
        turns.submit("s2", rec.task("other", server="s2"), None, wait=WAIT)
        rec.wait_outcomes("other")
        assert "blocked" not in rec.outcomes and turns.knows("id-blocked")
        hold.set()
        rec.wait_outcomes("blocked")
    finally:
        hold.set()
        runner.shutdown(WAIT)


def test_a_failed_task_gives_the_turn_to_the_next():
    runner, turns = make()
    rec = Recorder()
    try:
        turns.submit("s1", rec.task("fails", fail=True), None, wait=WAIT)
        turns.submit("s1", rec.task("next"), None, wait=WAIT)
        rec.wait_outcomes("fails", "next")
        assert rec.outcomes["fails"][0] == "failed"
        assert rec.outcomes["next"] == ("ok", "next")
    finally:
        runner.shutdown(WAIT)


def test_a_wait_that_runs_out_fails_that_task_alone_naming_what_runs():
    runner, turns = make()
    rec = Recorder()
    hold = threading.Event()
    try:
        turns.submit("s1", rec.task("long", hold=hold), None, wait=WAIT)
        turns.submit("s1", rec.task("impatient"), None, wait=0.1)
        turns.submit("s1", rec.task("patient"), None, wait=WAIT)
        time.sleep(0.2)
        turns.expire()
        rec.wait_outcomes("impatient")
        state, exc = rec.outcomes["impatient"]
        assert state == "failed" and isinstance(exc, exception.TurnTimeout)
        assert str(exc) == ("Task impatient waited 0.1 s for its turn on server "
                            "s1, which was busy with long all along; [cinder] "
                            "volume_operation_wait bounds the wait.")
        assert ("start", "impatient") not in rec.events
        assert "long" not in rec.outcomes  # the running one runs on
        hold.set()
        rec.wait_outcomes("long", "patient")
        assert rec.outcomes["patient"] == ("ok", "patient")
    finally:
        hold.set()
        runner.shutdown(WAIT)


def test_a_task_the_pool_refuses_fails_and_the_next_one_still_runs():
    runner, turns = make()
    rec = Recorder()
    try:
        runner.shutdown(WAIT)  # the pool takes nothing any more
        turns.submit("s1", rec.task("refused"), None, wait=WAIT)
        state, exc = rec.outcomes["refused"]
        assert state == "failed" and exc.code == 503
        assert not turns.knows("id-refused")
    finally:
        runner.shutdown(WAIT)

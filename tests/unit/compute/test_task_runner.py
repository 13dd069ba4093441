"""The task runner: a bounded pool, deadlines with cancellation, abandonment of
tasks that ignore it (recorded once), and a bounded shutdown."""

import threading
import time

from oslo_utils import uuidutils
import pytest

from nativesnap import exception
from nativesnap.compute import task_runner

WAIT = 10  # upper bound of every wait in these tests, never reached when green


class Recorder:
    """Collects on_success / on_failure calls of tasks."""

    def __init__(self):
        self.calls = []
        self.done = threading.Event()

    def success(self, task, result):
        self.calls.append(("success", task.id, result))
        self.done.set()

    def failure(self, task, exc):
        self.calls.append(("failure", task.id, exc))
        self.done.set()


def make_task(work, recorder, timeout=60, name="create_snapshot"):
    return task_runner.Task(uuidutils.generate_uuid(), name,
                            uuidutils.generate_uuid(), work, recorder.success,
                            recorder.failure, timeout)


@pytest.fixture
def runner_factory():
    runners = []

    def factory(workers=2, queue_size=0, cancel_grace=0.2):
        runner = task_runner.TaskRunner(workers=workers, queue_size=queue_size,
                                        cancel_grace=cancel_grace,
                                        watchdog_interval=0.02)
        runners.append(runner)
        return runner

    yield factory
    for runner in runners:
        runner.shutdown(0)


def wait_until(predicate, what):
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_task_result_is_recorded_by_on_success(runner_factory):
    runner = runner_factory()
    rec = Recorder()
    task = make_task(lambda t: 42, rec)
    runner.submit(task)
    assert rec.done.wait(WAIT)
    assert rec.calls == [("success", task.id, 42)]
    wait_until(lambda: not runner.running(), "the slot to be freed")


def test_task_exception_is_recorded_by_on_failure(runner_factory):
    runner = runner_factory()
    rec = Recorder()
    error = exception.DriverError(driver="fake", verb="x", reason="boom")

    def work(task):
        raise error

    task = make_task(work, rec)
    runner.submit(task)
    assert rec.done.wait(WAIT)
    assert rec.calls == [("failure", task.id, error)]


def test_more_than_workers_plus_queue_submissions_answer_service_unavailable(
        runner_factory):
    runner = runner_factory(workers=2, queue_size=3)
    release = threading.Event()
    rec = Recorder()
    tasks = [make_task(lambda t: release.wait(WAIT), rec) for _ in range(5)]
    for task in tasks:
        runner.submit(task)  # 2 running + 3 queued are accepted
    with pytest.raises(exception.ServiceUnavailable) as info:
        runner.submit(make_task(lambda t: None, rec))
    assert info.value.code == 503
    assert "retry later" in str(info.value)
    assert len(runner.running()) == 5
    release.set()
    wait_until(lambda: len(rec.calls) == 5 and not runner.running(),
               "the five tasks to finish")
    assert {c[0] for c in rec.calls} == {"success"}
    # Slots come back once tasks finish.
    runner.submit(make_task(lambda t: "again", rec))
    wait_until(lambda: len(rec.calls) == 6, "the sixth task")


def test_refused_submission_never_runs(runner_factory):
    runner = runner_factory(workers=1, queue_size=0)
    release = threading.Event()
    rec = Recorder()
    ran = []
    runner.submit(make_task(lambda t: release.wait(WAIT), rec))
    with pytest.raises(exception.ServiceUnavailable):
        runner.submit(make_task(lambda t: ran.append(1), rec))
    release.set()
    wait_until(lambda: not runner.running(), "the first task")
    time.sleep(0.05)
    assert ran == []
    assert len(rec.calls) == 1


def test_task_past_its_timeout_is_cancelled_and_recorded_as_timeout(
        runner_factory):
    runner = runner_factory(cancel_grace=WAIT)
    rec = Recorder()
    seen = []

    def work(task):
        # A well-behaved driver: reports progress, which raises once cancelled.
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                task.check_cancelled()
            except exception.TaskCancelled as e:
                seen.append(e)
                raise
            time.sleep(0.01)
        return "finished"

    task = make_task(work, rec, timeout=0.2)
    started = time.monotonic()
    runner.submit(task)
    assert rec.done.wait(WAIT)
    elapsed = time.monotonic() - started
    assert 0.2 <= elapsed < 2, elapsed
    assert len(seen) == 1, "the progress callback must raise TaskCancelled"
    assert task.cancelled.is_set() and task.cancel_reason == "timeout"
    [(kind, task_id, exc)] = rec.calls
    assert (kind, task_id) == ("failure", task.id)
    assert isinstance(exc, exception.TaskTimeout)
    assert "create_snapshot" in str(exc) and task.server_id in str(exc)


def test_task_ignoring_cancellation_is_abandoned_after_grace_and_recorded_once(
        runner_factory):
    runner = runner_factory(cancel_grace=0.3)
    rec = Recorder()
    release = threading.Event()
    returned = threading.Event()

    def work(task):
        release.wait(WAIT)  # a stuck driver call: never looks at cancellation
        returned.set()
        return "late result"

    task = make_task(work, rec, timeout=0.1)
    started = time.monotonic()
    runner.submit(task)
    assert rec.done.wait(WAIT)
    elapsed = time.monotonic() - started
    assert 0.1 + 0.3 <= elapsed < 3, elapsed
    assert task.cancelled.is_set()
    assert len(rec.calls) == 1
    assert rec.calls[0][0] == "failure"
    assert isinstance(rec.calls[0][2], exception.TaskTimeout)
    # The thread comes back later with a result: it is not recorded again.
    release.set()
    assert returned.wait(WAIT)
    wait_until(lambda: not runner.running(), "the abandoned thread to end")
    time.sleep(0.1)  # more watchdog rounds
    assert len(rec.calls) == 1


def test_abandoned_task_that_later_fails_is_not_recorded_twice(runner_factory):
    runner = runner_factory(cancel_grace=0.1)
    rec = Recorder()
    release = threading.Event()

    def work(task):
        release.wait(WAIT)
        raise exception.DriverError(driver="fake", verb="x", reason="late")

    task = make_task(work, rec, timeout=0.1)
    runner.submit(task)
    assert rec.done.wait(WAIT)
    release.set()
    wait_until(lambda: not runner.running(), "the abandoned thread to end")
    assert len(rec.calls) == 1
    assert isinstance(rec.calls[0][2], exception.TaskTimeout)


def test_abandoned_task_keeps_its_slot_until_its_thread_returns(runner_factory):
    runner = runner_factory(workers=1, queue_size=0, cancel_grace=0.05)
    rec = Recorder()
    release = threading.Event()
    runner.submit(make_task(lambda t: release.wait(WAIT), rec, timeout=0.05))
    assert rec.done.wait(WAIT)
    # The stuck thread still occupies the only worker: no new task is accepted
    # (rather than queueing behind a thread that may never return).
    with pytest.raises(exception.ServiceUnavailable):
        runner.submit(make_task(lambda t: None, rec))
    release.set()
    wait_until(lambda: not runner.running(), "the thread to return")
    runner.submit(make_task(lambda t: None, rec))


def test_shutdown_waits_for_running_tasks_and_refuses_new_ones(runner_factory):
    runner = runner_factory()
    rec = Recorder()
    task = make_task(lambda t: time.sleep(0.3) or "done", rec)
    runner.submit(task)
    left = runner.shutdown(WAIT)
    assert left == []
    assert rec.calls == [("success", task.id, "done")]
    with pytest.raises(exception.ServiceUnavailable) as info:
        runner.submit(make_task(lambda t: None, rec))
    assert "shutting down" in str(info.value)


def test_shutdown_wait_is_bounded_and_returns_unfinished_tasks(runner_factory):
    runner = runner_factory()
    rec = Recorder()
    release = threading.Event()
    task = make_task(lambda t: release.wait(WAIT), rec)
    runner.submit(task)
    started = time.monotonic()
    try:
        left = runner.shutdown(0.3)
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert 0.3 <= elapsed < 1.5, elapsed
    assert left == [task]

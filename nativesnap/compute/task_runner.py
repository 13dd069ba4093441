"""A bounded worker pool for tasks, with a deadline on every task.

Python threads cannot be killed, so a timeout works in two steps: at the
deadline the task's cancel flag is set (the driver sees it at its next progress
report and stops); if the driver call still has not returned ``cancel_grace``
seconds later, the task is abandoned: its failure is recorded and its server's
task lock released. Whatever the abandoned thread tries to save afterwards is
refused by the compare-and-swap on ``task_id``, so it cannot overwrite the work
of a later task.

A place in the pool is reserved before a task is accepted (the API side asks
for it in the same RPC call that validates the request, so a full pool
answers 503 before anything is recorded); the task's cast then claims it. A
reservation that no cast claims (the API process died in between) is given
back after ``reservation_ttl`` seconds.
"""

import concurrent.futures
import threading
import time

from oslo_utils import uuidutils

from oslo_log import log as logging

from nativesnap import exception

LOG = logging.getLogger(__name__)


class Task:
    """One unit of work: ``work(task)`` runs in the pool; exactly one of
    ``on_success(task, result)`` / ``on_failure(task, exc)`` records its outcome."""

    def __init__(self, task_id, name, server_id, work, on_success, on_failure,
                 timeout):
        self.id = task_id
        self.name = name
        self.server_id = server_id
        self._work = work
        self._on_success = on_success
        self._on_failure = on_failure
        self.timeout = timeout
        self.cancelled = threading.Event()
        self.cancel_reason = None
        self.started = None
        self.deadline = None
        self._finish_lock = threading.Lock()
        self._finished = False
        self._when_done = []

    def check_cancelled(self):
        """Raise TaskCancelled once the task has been cancelled."""
        if self.cancelled.is_set():
            raise exception.TaskCancelled(task=self.name, server_id=self.server_id,
                                          reason=self.cancel_reason)

    def cancel(self, reason):
        self.cancel_reason = reason
        self.cancelled.set()

    def when_done(self, callback):
        """``callback(task)`` once the outcome is recorded (or dropped)."""
        self._when_done.append(callback)

    def _finish(self, record, value):
        """Record the outcome once; later attempts (an abandoned thread coming
        back, or the watchdog after the thread finished) are dropped."""
        with self._finish_lock:
            if self._finished:
                return False
            self._finished = True
        try:
            record(self, value)
        except Exception:
            LOG.exception("Recording the outcome of task %s (%s) on server %s "
                          "failed", self.id, self.name, self.server_id)
        for callback in self._when_done:
            try:
                callback(self)
            except Exception:
                LOG.exception("After task %s (%s) on server %s", self.id,
                              self.name, self.server_id)
        return True

    def run(self):
        self.started = time.monotonic()
        self.deadline = self.started + self.timeout
        try:
            result = self._work(self)
        except Exception as e:
            if not isinstance(e, exception.NativesnapException):
                LOG.exception("Task %s (%s) on server %s failed unexpectedly",
                              self.id, self.name, self.server_id)
            if (isinstance(e, exception.TaskCancelled)
                    and self.cancel_reason == "timeout"):
                e = exception.TaskTimeout(task=self.name, server_id=self.server_id,
                                          timeout=self.timeout)
            self._finish(self._on_failure, e)
            return
        self._finish(self._on_success, result)

    def abandon(self):
        """Record a timeout for a driver call that ignored its cancellation."""
        if self._finish(self._on_failure, exception.TaskTimeout(
                task=self.name, server_id=self.server_id, timeout=self.timeout)):
            LOG.error("Task %s (%s) on server %s did not stop within its grace "
                      "period after timing out; its outcome is recorded as failed "
                      "and the server's task lock released", self.id, self.name,
                      self.server_id)

    def abandon_with(self, exc):
        """Record ``exc`` as the outcome of a task that will not run."""
        self._finish(self._on_failure, exc)

    @property
    def finished(self):
        return self._finished


class TaskRunner:
    def __init__(self, workers, queue_size, cancel_grace, watchdog_interval=0.5,
                 reservation_ttl=120):
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="nativesnap-task")
        # Bounds accepted-but-not-finished tasks, so overload answers 503
        # instead of growing a queue without limit.
        self._slots = threading.BoundedSemaphore(workers + queue_size)
        self._cancel_grace = cancel_grace
        self._reservation_ttl = reservation_ttl
        self._reservations = {}  # token -> monotonic expiry
        self._tasks = {}
        self._lock = threading.Lock()
        self._accepting = True
        self._stop = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, args=(watchdog_interval,),
                                          name="nativesnap-task-watchdog",
                                          daemon=True)
        self._watchdog.start()

    def _take_place(self):
        if not self._accepting:
            raise exception.ServiceUnavailable(reason="shutting down")
        if not self._slots.acquire(blocking=False):
            raise exception.ServiceUnavailable(
                reason="too many tasks are queued; retry later")

    def reserve(self):
        """Hold a place for a task about to be submitted, so a full queue is
        refused (503) before anything is recorded for it; its token."""
        self._take_place()
        token = uuidutils.generate_uuid()
        with self._lock:
            self._reservations[token] = time.monotonic() + self._reservation_ttl
        return token

    def _claim(self, token):
        with self._lock:
            return self._reservations.pop(token, None) is not None

    def unreserve(self, token):
        """Give a reserved place back (nothing when it is no longer held)."""
        if self._claim(token):
            self._slots.release()

    def submit(self, task, reservation=None):
        """Queue ``task`` in the place ``reservation`` holds, or in a new
        one when it holds none (any more); ServiceUnavailable when shutting
        down or full."""
        if reservation is None or not self._claim(reservation):
            self._take_place()
        elif not self._accepting:
            self._slots.release()
            raise exception.ServiceUnavailable(reason="shutting down")
        with self._lock:
            self._tasks[task.id] = task
        try:
            self._pool.submit(self._run, task)
        except RuntimeError:
            self._release(task)
            raise exception.ServiceUnavailable(reason="shutting down") from None

    def _release(self, task):
        with self._lock:
            if self._tasks.pop(task.id, None) is not None:
                self._slots.release()

    def _run(self, task):
        try:
            task.run()
        finally:
            self._release(task)

    def _expire_reservations(self, now):
        with self._lock:
            expired = [t for t, until in self._reservations.items() if now >= until]
            for token in expired:
                del self._reservations[token]
        for _token in expired:
            self._slots.release()
        if expired:
            LOG.warning("%d reserved task place(s) were not claimed within %d s "
                        "and were given back", len(expired),
                        self._reservation_ttl)

    def _watch(self, interval):
        while not self._stop.wait(interval):
            now = time.monotonic()
            self._expire_reservations(now)
            with self._lock:
                tasks = list(self._tasks.values())
            for task in tasks:
                if task.deadline is None or task.finished:
                    continue
                if now >= task.deadline and not task.cancelled.is_set():
                    LOG.warning("Task %s (%s) on server %s passed its %d s timeout; "
                                "cancelling it", task.id, task.name,
                                task.server_id, task.timeout)
                    task.cancel("timeout")
                elif now >= task.deadline + self._cancel_grace:
                    task.abandon()

    def running(self):
        with self._lock:
            return list(self._tasks.values())

    def knows(self, task_id):
        """True while task ``task_id`` is queued or running here."""
        with self._lock:
            return task_id in self._tasks

    def shutdown(self, timeout):
        """Stop accepting tasks and wait up to ``timeout`` s for running ones.

        Returns the tasks still unfinished; start-up recovery deals with them.
        """
        self._accepting = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                break
            time.sleep(0.1)
        left = [t for t in self.running() if not t.finished]
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        return left

"""Turns: a compute service does one driver operation on a server at a time,
in the order they were asked for.

Server tasks hold the server's task lock, so two of them never meet; but
Cinder's assisted volume snapshots do not take that lock (Cinder snapshots
several volumes of one server at once, and Nova lets it), and a server task
may come while they run. Their driver work must not overlap: libvirt runs
one job on a domain at a time, and a guest must never be frozen twice at
once. So every task queues for its server's turn here; the head of a queue
runs in the task runner, the others wait in arrival order, each at most
``[cinder] volume_operation_wait`` seconds, after which it fails with a
fault that says what it waited for (docs/cinder.md). A task that ends,
however it ends, gives the turn to the next.
"""

import collections
import threading
import time

from oslo_log import log as logging

from nativesnap import exception

LOG = logging.getLogger(__name__)


class _Waiting:
    def __init__(self, task, reservation, deadline, wait):
        self.task = task
        self.reservation = reservation
        self.deadline = deadline
        self.wait = wait


class ServerQueues:
    """``run(task, reservation)`` puts a task whose turn came in the pool;
    ``on_done(task)`` hears of every task's end (queued requests wait for
    it, docs/scheduler.md)."""

    def __init__(self, run, on_done=None):
        self._run = run
        self._on_done = on_done
        self._lock = threading.Lock()
        self._queues = {}  # server id -> deque of _Waiting, the head running

    def submit(self, server_id, task, reservation, wait):
        """Run ``task`` when the server's turn comes, waiting ``wait`` s at
        most; ServiceUnavailable when it is refused at once."""
        entry = _Waiting(task, reservation, time.monotonic() + wait, wait)
        task.when_done(lambda done: self._done(server_id, done))
        with self._lock:
            queue = self._queues.setdefault(server_id, collections.deque())
            queue.append(entry)
            first = len(queue) == 1
        if first:
            self._start(entry)
        else:
            LOG.info("Task %s (%s) on server %s waits for its turn behind %d "
                     "other(s)", task.id, task.name, server_id, len(queue) - 1)

    def _start(self, entry):
        try:
            self._run(entry.task, entry.reservation)
        except exception.ServiceUnavailable as e:
            entry.task.abandon_with(e)  # ends it, and the next one's turn comes

    def _done(self, server_id, task):
        with self._lock:
            queue = self._queues.get(server_id)
            if not queue:
                return
            was_head = queue[0].task is task
            for entry in list(queue):
                if entry.task is task:
                    queue.remove(entry)
            following = queue[0] if (was_head and queue) else None
            if not queue:
                del self._queues[server_id]
        if following is not None:
            self._start(following)
        if self._on_done is not None:
            self._on_done(task)

    def expire(self):
        """Fail the waiting tasks whose wait ran out (the running ones run)."""
        now = time.monotonic()
        expired = []
        with self._lock:
            for server_id, queue in self._queues.items():
                head = queue[0].task
                expired += [(server_id, head, e) for e in list(queue)[1:]
                            if now >= e.deadline]
        for server_id, head, entry in expired:
            LOG.warning("Task %s (%s) on server %s waited %d s for its turn "
                        "behind task %s (%s); failing it", entry.task.id,
                        entry.task.name, server_id, entry.wait, head.id,
                        head.name)
            entry.task.abandon_with(exception.TurnTimeout(
                task=entry.task.name, server_id=server_id, wait=entry.wait,
                running=head.name))

    def knows(self, task_id):
        """True while task ``task_id`` waits for its turn or runs."""
        with self._lock:
            return any(e.task.id == task_id for q in self._queues.values()
                       for e in q)

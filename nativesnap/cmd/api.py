"""nativesnap-api: the REST API service.

Served by cheroot, CherryPy's production WSGI server. With the default
in-process transport (``[DEFAULT] transport_url`` unset) the same process
runs the compute service too — drivers, task workers, recovery — which is
the one-process deployment ``make run`` starts; with a broker URL it serves
the API only and hands work to ``nativesnap-compute`` processes
(docs/architecture.md).

One process serves on about one core at most (the interpreter's lock;
docs/performance.md), so with a broker ``[api] workers`` > 1 serves HTTP in
that many processes. The parent binds the socket itself, so that a busy
port fails at once and port 0 still means one port for all, then
forks the workers before it has made any thread, database connection or
broker connection: each worker builds the application and opens its own
connections after the fork, since a connection shared across a fork would
carry two processes' traffic interleaved. The workers accept on the one
inherited socket, whichever is free first. The parent only supervises: it
replaces a worker that dies, and on SIGTERM (or SIGINT) passes the signal
on, waits up to ``shutdown_timeout`` and kills what remains. With the
in-process transport the one process also runs the compute service, whose
threads and drivers cannot be forked, so more than one worker is refused;
so is a sqlite database once a broker lets several processes write it.

On SIGTERM (or SIGINT) it stops taking requests, waits up to
``shutdown_timeout`` for running tasks, and exits; whatever is still running
then is finished or rolled back by start-up recovery on the next start.
"""

import gc
import logging as std_logging
import os
import select
import signal
import socket
import sys
import threading
import time

from cheroot import server as cheroot_server
from cheroot import wsgi as cheroot_wsgi
from oslo_log import log as logging

from nativesnap.api import router
from nativesnap.common import rpc
from nativesnap.common import service
from nativesnap.compute import api as compute_api
from nativesnap.compute import manager as compute_manager
from nativesnap.conf import CONF
from nativesnap import context as ns_context

LOG = logging.getLogger(__name__)

# Seconds every worker has, once forked, to build its application and serve.
WORKER_START_TIMEOUT = 60
# A worker that keeps dying is started again at most this often (seconds).
RESTART_INTERVAL = 1.0
# How often the parent looks at its workers (seconds).
SUPERVISE_INTERVAL = 0.2
# How often a worker checks that its parent still runs (seconds).
WORKER_CHECK_INTERVAL = 1.0


def check_deployment():
    """Refuse, before anything is touched, what this process cannot run."""
    if rpc.in_process():
        if CONF.api.workers > 1:
            service.die(
                f"[api] workers = {CONF.api.workers} needs a broker "
                "([DEFAULT] transport_url = rabbit://...): with the in-process "
                "transport this one process runs the compute service too "
                "(drivers, task workers, recovery), which cannot be forked. "
                "Set [api] workers = 1, or run the compute service as "
                "nativesnap-compute over a broker (docs/architecture.md)")
    else:
        service.refuse_shared_sqlite(
            "nativesnap-api with a broker ([DEFAULT] transport_url)")


def main(argv=None):
    argv = sys.argv if argv is None else argv
    service.prepare(argv, "nativesnap REST API", check=check_deployment)
    if CONF.api.workers > 1:
        return serve_workers(CONF.api.workers)
    compute = None
    if rpc.in_process():
        compute = compute_manager.ComputeManager()
        context = ns_context.get_admin_context()
        compute.init_host(context)
        compute.start(context)
    server = _make_server((CONF.api.host, CONF.api.port), _make_app())
    stop = service.stop_event()
    server.prepare()  # binds now, so a busy port fails here, loudly
    serving = threading.Thread(target=server.serve, name="nativesnap-http",
                               daemon=True)
    serving.start()
    LOG.info("nativesnap-api listening on http://%s:%d (%s)", CONF.api.host,
             server.bind_addr[1],
             "drivers: " + ", ".join(compute.drivers) if compute is not None
             else "no drivers: computes over " + rpc.safe_transport_url())
    while not stop.wait(1.0):
        if not serving.is_alive():
            LOG.error("The HTTP server stopped unexpectedly")
            break
    server.stop()
    left = compute.shutdown(CONF.shutdown_timeout) if compute is not None else []
    rpc.cleanup()
    LOG.info("nativesnap-api stopped (%d task(s) left to recovery)", len(left))
    service.exit_leaving_tasks(left)
    return 0


def _make_app():
    app = router.make_app(compute_api.API())
    # Start-up left ~100k long-lived objects (modules, configuration, policy
    # rules, routes). Frozen out of the garbage collector's generations, they
    # are no longer walked by each full collection, which the objects of list
    # requests trigger every few requests (~90 ms each time, before freezing).
    gc.collect()
    gc.freeze()
    return app


def _make_server(bind_addr, app, server_class=cheroot_wsgi.Server, **kwargs):
    return server_class(bind_addr, app, numthreads=CONF.api.server_threads,
                        timeout=CONF.api.request_timeout,
                        request_queue_size=CONF.api.backlog,
                        server_name="nativesnap", **kwargs)


class _InheritedSocketServer(cheroot_wsgi.Server):
    """A cheroot server on the socket its parent bound."""

    def __init__(self, bind_addr, app, bound=None, **kwargs):
        self._bound = bound
        super().__init__(bind_addr, app, **kwargs)

    def bind(self, family, type, proto=0):  # noqa: A002 — cheroot's names
        self.socket = self._bound
        return self.socket


# --- several worker processes ------------------------------------------------


def bind_socket():
    """The socket all the workers serve on, bound in the parent with
    cheroot's socket options; exits with a message when it cannot be.

    It does not listen yet: the first worker to serve makes it listen
    (cheroot's ``prepare``), so that until a worker can answer, a client is
    refused as by one process starting, rather than left waiting."""
    host, port = CONF.api.host, CONF.api.port
    failures = []
    try:
        found = socket.getaddrinfo(host, port, socket.AF_UNSPEC,
                                   socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    except socket.gaierror as e:
        service.die(f"nativesnap-api cannot listen on {host}:{port}: {e}")
    for family, type_, proto, _name, addr in found:
        sock = cheroot_server.HTTPServer.prepare_socket(
            addr, family, type_, proto, True, None)
        try:
            sock.bind(addr)
            return sock
        except OSError as e:
            sock.close()
            failures.append(f"{addr[0]}:{addr[1]}: {e.strerror or e}")
    service.die(f"nativesnap-api cannot listen on {host}:{port}: "
                + "; ".join(failures))


def serve_workers(count):
    """The parent of ``count`` worker processes: binds, forks, supervises."""
    sock = bind_socket()
    host, port = sock.getsockname()[:2]
    workers = _Workers(sock, count)
    stop = service.stop_event()
    try:
        workers.start_all(stop)
        if not stop.is_set():
            LOG.info("nativesnap-api listening on http://%s:%d (%d workers; "
                     "no drivers: computes over %s)", host, port, count,
                     rpc.safe_transport_url())
        while not stop.is_set():
            workers.supervise(SUPERVISE_INTERVAL, stop)
    finally:
        left = workers.stop(stop.signum or signal.SIGTERM,
                            CONF.shutdown_timeout)
        sock.close()
    LOG.info("nativesnap-api stopped with its %d workers (%d killed after "
             "%d s)", count, left, CONF.shutdown_timeout)
    return 0


class _Workers:
    """The worker processes of one parent, by slot (1..count)."""

    def __init__(self, sock, count):
        self.sock = sock
        self.count = count
        self.parent = os.getpid()
        self.pids = {}       # pid -> slot
        self.started = {}    # slot -> when its worker was forked (monotonic)
        self.restart = {}    # slot -> when to start its worker again
        # Each worker writes its slot here once it serves.
        self.ready_r, self.ready_w = os.pipe()

    def spawn(self, slot):
        if threading.active_count() != 1:
            # Locks held by another thread would stay held in the child.
            raise RuntimeError("nativesnap-api forks its workers only from a "
                               "process without threads")
        pid = os.fork()
        if pid == 0:
            os.close(self.ready_r)
            _worker(slot, self.sock, self.ready_w, self.parent)  # never returns
        self.pids[pid] = slot
        self.started[slot] = time.monotonic()
        return pid

    def start_all(self, stop):
        """Fork every worker and wait (bounded) until all serve; exits with
        a message when one dies first or they are too slow."""
        for slot in range(1, self.count + 1):
            self.spawn(slot)
        ready = set()
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        while len(ready) < self.count and not stop.is_set():
            ready |= self.read_ready(SUPERVISE_INTERVAL)
            for pid, slot, how in self.reap():
                if slot not in ready:
                    service.die(f"nativesnap-api worker {slot} (pid {pid}) "
                                f"{how} before it served; see its messages "
                                "above")
                self.ended(pid, slot, how)
            if time.monotonic() >= deadline:
                service.die(f"nativesnap-api workers did not all serve within "
                            f"{WORKER_START_TIMEOUT} s")

    def read_ready(self, timeout):
        """Slots that reported serving within ``timeout`` seconds."""
        readable, _, _ = select.select([self.ready_r], [], [], timeout)
        if not readable:
            return set()
        return set(os.read(self.ready_r, 4096))

    def reap(self):
        """(pid, slot, how it ended) of every worker that ended."""
        ended = []
        while self.pids:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            slot = self.pids.pop(pid, None)
            if slot is not None:
                ended.append((pid, slot, _how(status)))
        return ended

    def ended(self, pid, slot, how):
        """A worker that served ended unasked: its slot is started again."""
        LOG.error("nativesnap-api worker %d (pid %d) %s: starting another",
                  slot, pid, how)
        self.restart[slot] = max(time.monotonic(),
                                 self.started[slot] + RESTART_INTERVAL)

    def supervise(self, interval, stop):
        """One look at the workers: a worker that died is started again,
        unless ``stop`` is set (a Ctrl-C reaches the workers too, and they
        may end before the parent looks at its event)."""
        self.read_ready(interval)
        if stop.is_set():
            return
        for pid, slot, how in self.reap():
            self.ended(pid, slot, how)
        now = time.monotonic()
        for slot, when in sorted(self.restart.items()):
            if when <= now:
                del self.restart[slot]
                self.spawn(slot)

    def stop(self, signum, timeout):
        """Pass ``signum`` to every worker, wait up to ``timeout`` seconds,
        kill what remains; returns how many were killed."""
        for pid in self.pids:
            _signal(pid, signum)
        deadline = time.monotonic() + timeout
        while self.pids and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.05)
        left = len(self.pids)
        for pid, slot in self.pids.items():
            LOG.warning("nativesnap-api worker %d (pid %d) still runs after "
                        "%d s: killed", slot, pid, timeout)
            _signal(pid, signal.SIGKILL)
        for pid in list(self.pids):
            # Bounded: a killed process ends (it cannot catch SIGKILL).
            os.waitpid(pid, 0)
            del self.pids[pid]
        return left


def _signal(pid, signum):
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _how(status):
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


def _worker(slot, sock, ready_fd, parent):
    """Worker process ``slot``: serves on ``sock`` until a signal or its
    parent's end, then exits (never returns into the parent's code)."""
    code = 1
    try:
        stop = service.stop_event()
        server = _make_server(sock.getsockname()[:2], _make_app(),
                              server_class=_InheritedSocketServer,
                              bound=sock)
        server.prepare()
        # All the workers wait on the one socket and all are woken by a new
        # connection: the ones that lose it must find nothing at once (cheroot
        # ignores EAGAIN) rather than block their connection loop for a
        # timeout.
        server.socket.setblocking(False)
        serving = threading.Thread(target=server.serve, name="nativesnap-http",
                                   daemon=True)
        serving.start()
        LOG.info("nativesnap-api worker %d (pid %d) serving", slot, os.getpid())
        os.write(ready_fd, bytes([slot]))
        while not stop.wait(WORKER_CHECK_INTERVAL):
            if not serving.is_alive():
                LOG.error("The HTTP server of worker %d stopped unexpectedly",
                          slot)
                break
            if os.getppid() != parent:
                LOG.error("nativesnap-api worker %d: its parent is gone", slot)
                break
        server.stop()
        rpc.cleanup()
        code = 0
    except BaseException:  # noqa: BLE001 — whatever it was, the worker ends
        LOG.exception("nativesnap-api worker %d failed", slot)
    finally:
        std_logging.shutdown()
        os._exit(code)


if __name__ == "__main__":
    sys.exit(main())

"""How the functional tests' real OpenStack peers are served, logged and
reported.

Keystone (tests/keystone_fixtures.py), Glance (tests/glance_fixtures.py) and
Cinder (tests/cinder_fixtures.py) are the projects' own API applications,
served alike: each in a process of its own that leads its own process group,
on 127.0.0.1 and a free port, waited for until it answers, stopped with
SIGTERM (SIGKILL when it does not end), writing one access line per request
to its log, whose tail goes into the report of a failing test that used it.
Keystone and Glance have no server of their own any more and are served here
by cheroot (nativesnap's own WSGI server), the way uWSGI or mod_wsgi serve
them in a deployment; cinder-api still serves itself (eventlet). So they share
how they are served, logged and reported, here; each fixture module keeps what
is its peer's own (configuration, bootstrap, identity, its helpers).
"""

import logging
import os
import signal
import subprocess
import sys
import threading
import time

import requests

from tests import fixtures

INSTALL = ".venv/bin/pip install -c constraints.txt -e '.[test]'"
# cheroot: request threads, seconds a stopping server waits for requests in
# progress before cutting them off.
SERVER_THREADS = 8
SHUTDOWN_TIMEOUT = 2


def require(path, what, package=None):
    """Fail loudly when ``path`` (a peer's script or file) is not installed."""
    if not os.path.exists(path):
        which = f", which has {package}" if package else ""
        raise RuntimeError(f"{what} not found at {path}: install the test "
                           f"extra{which} ({INSTALL})")


def tail(path, chars=6000):
    """The last ``chars`` characters of the file at ``path``."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()[-chars:]
    except FileNotFoundError:
        return f"({path} was not written)"


# --- in a peer's process ------------------------------------------------------

def access_logged(app, logger_name):
    """``app`` writing one line per request to the logger ``logger_name`` (the
    peer's log) when the request ends: its answer sent, or cut off."""
    log = logging.getLogger(logger_name)

    def logged(environ, start_response):
        began = time.monotonic()
        status = ["-"]

        def start(line, headers, exc_info=None):
            status[0] = line.split(" ", 1)[0]
            return start_response(line, headers, exc_info)

        request = (environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", ""),
                   environ.get("QUERY_STRING"))
        sent = 0
        result = None
        try:
            result = app(environ, start)
            for chunk in result:
                sent += len(chunk)
                yield chunk
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
            method, path, query = request
            log.info('"%s %s%s" status: %s len: %d time: %.3f', method, path,
                     "?" + query if query else "", status[0], sent,
                     time.monotonic() - began)

    return logged


def serve(app, port, name, access_logger, socket_timeout):
    """Serve ``app`` (access-logged to ``access_logger``) with cheroot on
    127.0.0.1:``port`` until SIGTERM or SIGINT; returns the exit status.
    ``socket_timeout``: seconds a connection may stay silent."""
    from cheroot import wsgi as cheroot_wsgi

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = cheroot_wsgi.Server(("127.0.0.1", port),
                                 access_logged(app, access_logger),
                                 numthreads=SERVER_THREADS, timeout=socket_timeout,
                                 shutdown_timeout=SHUTDOWN_TIMEOUT,
                                 server_name=name)
    server.prepare()  # binds now: a busy port fails here, loudly
    serving = threading.Thread(target=server.serve, name=f"{name}-http", daemon=True)
    serving.start()
    while not stop.wait(0.5):
        if not serving.is_alive():
            print(f"{name}: the HTTP server stopped unexpectedly", file=sys.stderr)
            return 1
    server.stop()
    return 0


# --- in the test process ------------------------------------------------------

def start_module(module, args, out):
    """``python -m module args...`` from the repository, its output to the
    open file ``out``, in a session of its own: ``stop_group`` signals the
    group it leads (its own processes only)."""
    return subprocess.Popen([sys.executable, "-m", module, *args],
                            cwd=fixtures.REPO, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)


def wait_answering(peer, url, status, timeout, stop, interval=0.1):
    """Wait (bounded) until ``GET url`` answers ``status``. When ``peer``'s
    process (``peer.proc``) exits first, or ``timeout`` runs out, ``stop()``
    is called and RuntimeError raised with the tails of its output
    (``peer.out_path``, when it has one) and log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if peer.proc.poll() is not None:
            stop()
            raise RuntimeError(f"{peer.label} exited with {peer.proc.returncode}; "
                               f"{_output(peer)}")
        try:
            if requests.get(url, timeout=2).status_code == status:
                return
        except requests.ConnectionError:
            pass
        time.sleep(interval)
    stop()
    raise RuntimeError(f"{peer.label} did not answer within {timeout} s; "
                       f"{_output(peer)}")


def _output(peer):
    out_path = getattr(peer, "out_path", None)
    output = f"its output:\n{tail(out_path)}\n" if out_path else ""
    return f"{output}log:\n{tail(peer.log_path)}"


def stop_group(proc, timeout, kill=False):
    """SIGTERM (with ``kill`` SIGKILL) the process group ``proc`` leads, and
    wait (bounded); SIGKILL when it has not ended within ``timeout`` s."""
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


class Peer:
    """What a peer's server object shares: its ``label`` (as its messages
    name it), ``log_path`` and ``access_marker`` (what marks an access line
    of its log: the access logger's name)."""

    label = None
    access_marker = None
    log_path = None

    def requests_logged(self, method, path_part):
        """How many ``METHOD ...path_part...`` requests the peer has logged
        as ended (with any answer, or cut off)."""
        needle = f'"{method} '
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return sum(1 for line in f
                           if self.access_marker in line and needle in line
                           and path_part in line)
        except FileNotFoundError:
            return 0

    def wait_logged(self, method, path_part, count=1, timeout=30):
        """Wait (bounded) until the peer has logged ``count`` such requests.

        A request's line is written after its answer is sent, so a client can
        hold the answer before the line is there.
        """
        deadline = time.monotonic() + timeout
        while (seen := self.requests_logged(method, path_part)) < count:
            if time.monotonic() >= deadline:
                raise AssertionError(f"{self.label} logged {seen} {method} "
                                     f"...{path_part}... within {timeout} s, "
                                     f"not {count}")
            time.sleep(0.05)
        return seen

    def log_tail(self, chars=6000):
        return tail(self.log_path, chars)


def attach_log_tail(item, report, server_class, fixture_name=None):
    """For a ``pytest_runtest_makereport`` hookwrapper: a failing test's
    ``report`` gets the log tail of the ``server_class`` peer its fixture
    ``fixture_name`` gave it (of every such peer, without a name)."""
    if not report.failed:
        return
    funcargs = getattr(item, "funcargs", {})
    servers = (funcargs.values() if fixture_name is None
               else [funcargs.get(fixture_name)])
    for server in servers:
        if isinstance(server, server_class):
            report.sections.append((f"{server.label} log (tail of {server.log_path})",
                                    server.log_tail()))

"""pytest plugin: a vCenter API simulator, the peer of the pyvmomi-based driver.

Use it from a test module with::

    pytest_plugins = ["tests.vcsim_fixtures"]

Fixtures:
  vcsim_binary   (session) the simulator built by ``tools/build-vcsim`` (govmomi
                 0.24.2's ``simulator`` package from Debian, with the fixes of
                 ``tools/vcsim/govmomi-0.24.2-fixes.patch``); cached, ≈ 0.1 s
                 when current, ≈ 20 s cold.
  vcsim_options  (module) keyword options of ``VCSim.start`` for the module's
                 simulator; override it in a test module to change the model,
                 e.g. ``{"vm": 1, "method_delay": {"CreateSnapshot_Task": 2000}}``.
  vcsim          (module) one running simulator per test module: a vCenter
                 (VPX model) on 127.0.0.1 over HTTPS with a certificate of its
                 own, one user and password. See ``VCSim``.

The simulator keeps its inventory in memory: a restart begins again from the
model (same names, managed object ids and UUIDs; no snapshot or clone made
before). Its log (stderr, appended across restarts) stays under the fixture's
directory; its tail is added to the report of every failing test that used it.
"""

import contextlib
import os
import queue
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import threading
import time
import urllib.request

import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim

from tests import fixtures

BUILD_SCRIPT = os.path.join(fixtures.REPO, "tools", "build-vcsim")
BUILD_TIMEOUT = 900  # a cold build is ≈ 20 s; waiting for a concurrent build's lock too
START_TIMEOUT = 30  # it starts in ≈ 50 ms
STOP_TIMEOUT = 15
CONNECT_TIMEOUT = 30
USERNAME = "nativesnap@vsphere.local"
URL_LINE = re.compile(r"^https://127\.0\.0\.1:(\d+)/sdk$")

_binary = None


def build_vcsim():
    """Path of the simulator binary, built (bounded) by tools/build-vcsim."""
    global _binary
    if _binary is None:
        try:
            out = subprocess.run([BUILD_SCRIPT], check=False, capture_output=True,
                                 text=True, timeout=BUILD_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            raise RuntimeError(f"tools/build-vcsim did not finish within {BUILD_TIMEOUT} s; "
                               f"its stderr:\n{_text(e.stderr)[-4000:]}") from None
        path = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
        if out.returncode != 0 or not os.access(path, os.X_OK):
            raise RuntimeError(f"tools/build-vcsim failed ({out.returncode}, stdout "
                               f"{out.stdout!r}); its stderr:\n{out.stderr[-4000:]}")
        _binary = path
    return _binary


class VCSim:
    """A running simulator and what a test needs to reach it.

    Attributes: ``url`` (``https://127.0.0.1:PORT/sdk``), ``host``, ``port``,
    ``username``, ``password``, ``ca_file`` (the server's self-signed
    certificate, PEM: verify TLS against it), ``dir``, ``log_path``, ``proc``.
    The port, certificate and credentials stay the same across restarts.
    """

    def __init__(self, base_dir, binary, username=USERNAME, password=None):
        self.dir = base_dir
        self.binary = binary
        self.host = "127.0.0.1"
        self.port = None  # chosen by the first start, kept by the next ones
        self.url = None
        self.username = username
        # XML special characters: the SOAP client must escape the password.
        self.password = password or f"{secrets.token_urlsafe(12)}&<!"
        self.ca_file = os.path.join(base_dir, "vcsim-cert.pem")
        self.key_file = os.path.join(base_dir, "vcsim-key.pem")
        self.datastore_root = os.path.join(base_dir, "datastores")
        self.log_path = os.path.join(base_dir, "vcsim.log")
        self.options = {}
        self.proc = None
        self._log = None
        self._sessions = []

    # --- process --------------------------------------------------------

    def _argv(self):
        o = self.options
        argv = [self.binary,
                "-listen", f"{self.host}:{self.port or 0}",
                "-username", self.username, "-password", self.password,
                "-tls-cert", self.ca_file, "-tls-key", self.key_file,
                "-datastore-dir", self.datastore_root,
                "-watch-stdin"]  # ends with its stdin pipe if pytest dies
        for name, flag in (("vm", "-vm"), ("standalone_host", "-standalone-host"),
                           ("cluster", "-cluster"), ("host", "-host"), ("ds", "-ds"),
                           ("delay", "-delay")):
            if name in o:
                argv += [flag, str(int(o[name]))]
        if "autostart" in o:
            argv.append(f"-autostart={'true' if o['autostart'] else 'false'}")
        if o.get("method_delay"):
            argv += ["-method-delay",
                     ",".join(f"{m}={int(ms)}" for m, ms in o["method_delay"].items())]
        if o.get("trace"):
            argv.append("-trace")
        unknown = set(o) - {"vm", "standalone_host", "cluster", "host", "ds", "delay",
                            "autostart", "method_delay", "trace"}
        if unknown:
            raise ValueError(f"unknown vcsim options {sorted(unknown)}")
        return argv

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=START_TIMEOUT, **options):
        """Start the simulator (on the port of its first start) and wait, bounded,
        until it serves. ``options`` (kept for later starts): vm, standalone_host,
        cluster, host, ds (model sizes), autostart (power the VMs on; default
        True), delay (ms before every call), method_delay ({method: ms} before
        that call, e.g. {"CreateSnapshot_Task": 2000}), trace (SOAP to the log).
        """
        if self.running:
            raise RuntimeError(f"the simulator already runs (pid {self.proc.pid})")
        self.options.update(options)
        argv = self._argv()
        # A killed simulator leaves its datastore directories: none is in use now.
        shutil.rmtree(self.datastore_root, ignore_errors=True)
        os.makedirs(self.datastore_root)
        self._log = open(self.log_path, "ab")
        self._log.write(f"--- start: {' '.join(argv)}\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, start_new_session=True)
        lines = queue.Queue()

        def read(stdout):
            for line in stdout:
                lines.put(line.decode(errors="replace").strip())
            lines.put(None)

        threading.Thread(target=read, args=(self.proc.stdout,), name="vcsim-stdout",
                         daemon=True).start()
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            self._fail(f"the simulator printed no URL within {timeout} s")
        match = URL_LINE.match(line or "")
        if not match:
            self._fail(f"the simulator did not start (first line on stdout {line!r})")
        port = int(match.group(1))
        if self.port is not None and port != self.port:
            self._fail(f"the simulator came up on port {port}, not {self.port}")
        self.port = port
        self.url = line
        self._wait_serving(timeout)
        return self

    def _wait_serving(self, timeout):
        """The URL is printed once the server accepts connections: one HTTPS GET,
        verified against the CA file, proves it (retried, bounded)."""
        deadline = time.monotonic() + timeout
        versions = f"https://{self.host}:{self.port}/sdk/vimServiceVersions.xml"
        while True:
            try:
                with urllib.request.urlopen(versions, context=self.ssl_context(),
                                            timeout=5) as r:
                    if r.status == 200:
                        return
                    error = f"HTTP {r.status}"
            except OSError as e:
                error = e
            if self.proc.poll() is not None or time.monotonic() >= deadline:
                self._fail(f"the simulator at {self.url} does not serve: {error}")
            time.sleep(0.05)

    def _fail(self, message):
        exit_code = self.proc.poll()
        self.stop()
        raise RuntimeError(f"{message} (exit code {exit_code}); "
                           f"log {self.log_path}:\n{self.log_tail()}")

    def stop(self, kill=False, timeout=STOP_TIMEOUT):
        """Stop the simulator: SIGTERM (SIGKILL after ``timeout``), or SIGKILL
        at once with ``kill=True`` (a crash).
        Its inventory is lost either way; a kill leaves its datastore directory
        until the next start. Idempotent."""
        self._sessions.clear()  # their server is gone; nothing to log out from
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        if self._log is not None:
            self._log.close()
            self._log = None
        self.proc = None

    def restart(self, kill=False, **options):
        """Stop (see ``stop``) and start again on the same port, with the same
        certificate and credentials; the inventory starts afresh."""
        self.stop(kill=kill)
        return self.start(**options)

    def close(self):
        """Teardown: log out of the sessions ``connect`` opened, kill the process."""
        for si in self._sessions:
            with contextlib.suppress(Exception):  # a dead session is no teardown error
                Disconnect(si)
        self.stop()

    # --- clients --------------------------------------------------------

    def ssl_context(self):
        """A client context that verifies the simulator against ``ca_file``."""
        return ssl.create_default_context(cafile=self.ca_file)

    def connect(self, username=None, password=None, timeout=CONNECT_TIMEOUT):
        """A pyvmomi ServiceInstance logged in over verified HTTPS (logged out at
        teardown). A wrong ``password`` raises vim.fault.InvalidLogin."""
        if not self.running:
            raise RuntimeError("the simulator is not running")
        si = SmartConnect(host=self.host, port=self.port,
                          user=self.username if username is None else username,
                          pwd=self.password if password is None else password,
                          sslContext=self.ssl_context(), httpConnectionTimeout=timeout)
        self._sessions.append(si)
        return si

    def find_vm(self, name, si=None, datacenter="DC0"):
        """The VM ``name`` (e.g. "DC0_H0_VM0") by inventory path DC/vm/NAME."""
        si = si or self.connect()
        vm = si.content.searchIndex.FindByInventoryPath(f"{datacenter}/vm/{name}")
        if not isinstance(vm, vim.VirtualMachine):
            raise LookupError(f"no VM {datacenter}/vm/{name} in the simulator")
        return vm

    def datastore_dir(self, name="LocalDS_0", datacenter="DC0"):
        """Where the running simulator keeps datastore ``name``'s files."""
        prefix = f"govcsim-{datacenter}-{name}-"
        dirs = [os.path.join(self.datastore_root, d) for d in os.listdir(self.datastore_root)
                if d.startswith(prefix)]
        if len(dirs) != 1:
            raise LookupError(f"{len(dirs)} directories {prefix}* in {self.datastore_root}")
        return dirs[0]

    def log_tail(self, chars=6000):
        if self._log is not None:
            self._log.flush()
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()[-chars:]
        except FileNotFoundError:
            return f"({self.log_path} was not written)"


def _text(data):
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data or ""


@pytest.fixture(scope="session")
def vcsim_binary():
    return build_vcsim()


@pytest.fixture(scope="module")
def vcsim_options():
    return {}


@pytest.fixture(scope="module")
def vcsim(vcsim_binary, vcsim_options, tmp_path_factory):
    sim = VCSim(str(tmp_path_factory.mktemp("vcsim")), vcsim_binary)
    try:
        sim.start(**vcsim_options)
        yield sim
    finally:
        sim.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    sim = getattr(item, "funcargs", {}).get("vcsim")
    if report.failed and isinstance(sim, VCSim):
        report.sections.append((f"vcsim log (tail of {sim.log_path})", sim.log_tail()))

"""A libvirtd of a test's own, which the test may stop and restart.

The machine's libvirtd (``tools/start-libvirtd``) serves every test running
at the time; restarting it would cut their connections. A test that restarts
libvirtd runs this one instead: the same monolithic ``libvirtd`` binary and
configuration, started the way ``tools/start-libvirtd`` starts the shared one
(``setsid tini -s -- libvirtd``: tini as child subreaper reaps the QEMUs it
daemonizes), but in a mount namespace of its own where ``/run/libvirt``,
``/var/lib/libvirt``, ``/etc/libvirt``, ``/var/cache/libvirt`` and
``/var/log/libvirt`` are directories of the test, so its domains, status
files and sockets are its own. Its client socket is in a directory visible
from outside: ``uri`` is ``qemu+unix:///system?socket=...``.

The namespace is held by a ``sleep`` process (``unshare -m``) that outlives
each libvirtd; every libvirtd is started in it with ``nsenter``. ``restart()``
does what an operator's ``systemctl restart libvirtd`` does: SIGTERM, wait for
the exit, start again, wait until it answers. Its running QEMUs are left
running (libvirtd reconnects to them), exactly as with the shared daemon.
Every wait is bounded; whatever cannot be had raises.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time

import libvirt

LIBVIRT_DIRS = {"run": "/run/libvirt", "lib": "/var/lib/libvirt",
                "etc": "/etc/libvirt", "cache": "/var/cache/libvirt",
                "log": "/var/log/libvirt"}


class DaemonError(Exception):
    pass


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise DaemonError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class PrivateLibvirtd:
    def __init__(self):
        # Short: unix socket paths are limited to 107 bytes.
        self.dir = tempfile.mkdtemp(prefix="nsd-", dir="/tmp")
        self.socket = os.path.join(self.dir, "sock", "libvirt-sock")
        self.uri = f"qemu+unix:///system?socket={self.socket}"
        self.pid_file = os.path.join(self.dir, "libvirtd.pid")
        self.log_path = os.path.join(self.dir, "libvirtd.out")
        self.holder = None
        self.tini = None
        self.restarts = 0
        self._prepare()

    def _prepare(self):
        for name in list(LIBVIRT_DIRS) + ["sock"]:
            os.makedirs(os.path.join(self.dir, name))
        etc = os.path.join(self.dir, "etc")
        # The machine's configuration (qemu.conf: root, no security driver,
        # stdio to files), without its domains, networks or autostart links.
        shutil.copytree("/etc/libvirt", etc, dirs_exist_ok=True,
                        ignore=lambda d, names: [
                            n for n in names
                            if (d.endswith("/qemu") and n.endswith(".xml"))
                            or n in ("autostart", "networks")])
        with open(os.path.join(etc, "libvirtd.conf"), "a") as f:
            f.write(f'\nunix_sock_dir = "{os.path.dirname(self.socket)}"\n')
        # QEMU's probed capabilities: a first start without them takes ≈ 8 s.
        caps = "/var/cache/libvirt/qemu/capabilities"
        if os.path.isdir(caps):
            shutil.copytree(caps, os.path.join(self.dir, "cache", "qemu",
                                               "capabilities"))

    def start(self, timeout=60):
        # libvirt-python prints every error unless a handler is set; polling
        # a daemon that is still starting would spam the test's output.
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
        if self.holder is None:
            ready = os.path.join(self.dir, "namespace-ready")
            mounts = " && ".join(
                f"mount --bind {os.path.join(self.dir, name)} {path}"
                for name, path in LIBVIRT_DIRS.items())
            self.holder = subprocess.Popen(
                ["unshare", "-m", "--propagation", "private", "sh", "-c",
                 f"{mounts} && touch {ready} && exec sleep 2147483647"],
                stdin=subprocess.DEVNULL)
            _wait(lambda: os.path.exists(ready) or self.holder.poll() is not None,
                  30, "the mount namespace")
            if self.holder.poll() is not None:
                raise DaemonError(f"unshare/mount failed ({self.holder.returncode})")
        with open(self.log_path, "ab") as log:
            self.tini = subprocess.Popen(
                ["nsenter", "-t", str(self.holder.pid), "-m", "--",
                 "setsid", "tini", "-s", "--", "libvirtd", "-p", self.pid_file],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        _wait(self._answers, timeout, f"libvirtd to answer on {self.socket} "
                                      f"(log: {self.log_path})")
        return self

    def _answers(self):
        if self.tini is not None and self.tini.poll() is not None:
            raise DaemonError(f"libvirtd exited ({self.tini.returncode}); log:\n"
                              f"{self._log_tail()}")
        try:
            libvirt.open(self.uri).close()
            return True
        except libvirt.libvirtError:
            return False

    def _log_tail(self):
        with open(self.log_path, "rb") as f:
            return f.read()[-3000:].decode(errors="replace")

    def pid(self):
        with open(self.pid_file) as f:
            return int(f.read().strip())

    def stop(self, timeout=60):
        """SIGTERM libvirtd and wait for it (and its tini) to exit."""
        if self.tini is None or self.tini.poll() is not None:
            return
        os.kill(self.pid(), signal.SIGTERM)
        try:
            self.tini.wait(timeout)
        except subprocess.TimeoutExpired:
            raise DaemonError(f"libvirtd did not exit within {timeout} s of "
                              "SIGTERM") from None

    def restart(self, timeout=60):
        self.stop(timeout)
        self.restarts += 1
        return self.start(timeout)

    def connect(self, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                return libvirt.open(self.uri)
            except libvirt.libvirtError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)

    def cleanup(self):
        """Destroy and undefine what is left on this daemon, stop it and
        its namespace, remove its directory."""
        problems = []
        if self.tini is not None and self.tini.poll() is None:
            try:
                conn = self.connect(10)
                for dom in conn.listAllDomains():
                    try:
                        if dom.isActive():
                            dom.destroy()
                        if dom.isPersistent():
                            dom.undefineFlags(
                                libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                                | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
                    except libvirt.libvirtError as e:
                        problems.append(f"{dom.name()}: {e}")
                conn.close()
            except libvirt.libvirtError as e:
                problems.append(str(e))
            try:
                self.stop(30)
            except DaemonError as e:
                problems.append(str(e))
        if self.holder is not None and self.holder.poll() is None:
            self.holder.kill()
            self.holder.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)
        if problems:
            raise DaemonError("; ".join(problems))

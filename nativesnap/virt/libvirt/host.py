"""The connection to libvirtd and the bounded primitives the driver builds on:
domain lookup and state, the guest agent, freeze/thaw with a watchdog, and
block jobs waited on with a deadline."""

import json
import threading
import time

from oslo_log import log as logging
from oslo_utils import uuidutils
import tenacity

from nativesnap.common import states
from nativesnap.conf import CONF
from nativesnap import exception

try:
    import libvirt
    import libvirt_qemu
except ImportError:  # reported when the driver starts, not at import
    libvirt = None
    libvirt_qemu = None

LOG = logging.getLogger(__name__)

DRIVER = "libvirt"


def error(verb, reason):
    return exception.DriverError(driver=DRIVER, verb=verb, reason=reason)


def state_of(dom):
    state, _reason = dom.state()
    return {
        libvirt.VIR_DOMAIN_RUNNING: states.ACTIVE,
        libvirt.VIR_DOMAIN_BLOCKED: states.ACTIVE,
        libvirt.VIR_DOMAIN_PAUSED: states.PAUSED,
        libvirt.VIR_DOMAIN_PMSUSPENDED: states.PAUSED,
        libvirt.VIR_DOMAIN_SHUTDOWN: states.SHUTOFF,
        libvirt.VIR_DOMAIN_SHUTOFF: states.SHUTOFF,
    }.get(state, states.SERVER_ERROR)


class Host:
    def __init__(self):
        self._conn = None
        self._lock = threading.Lock()

    # --- connection ----------------------------------------------------------

    def connection(self):
        if libvirt is None:
            raise error("connect", "the libvirt Python bindings are not installed "
                                   "(Debian package python3-libvirt)")
        with self._lock:
            if self._conn is None or not self._conn.isAlive():
                self._conn = self._open()
            return self._conn

    def _open(self):
        uri = CONF.libvirt.uri

        @tenacity.retry(stop=tenacity.stop_after_delay(CONF.libvirt.connect_timeout),
                        wait=tenacity.wait_exponential(max=5),
                        retry=tenacity.retry_if_exception_type(libvirt.libvirtError),
                        reraise=True)
        def _open_with_retry():
            return libvirt.open(uri)

        try:
            conn = _open_with_retry()
        except libvirt.libvirtError as e:
            raise error("connect", f"{uri}: {e}") from e
        LOG.info("Connected to %s (libvirt %s)", uri, conn.getLibVersion())
        return conn

    def close(self):
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                except libvirt.libvirtError:
                    pass
                self._conn = None

    def lib_version(self):
        return self.connection().getLibVersion()

    # --- domains ---------------------------------------------------------------

    def lookup(self, ref):
        conn = self.connection()
        try:
            if uuidutils.is_uuid_like(ref):
                return conn.lookupByUUIDString(ref)
            return conn.lookupByName(ref)
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                raise exception.HypervisorObjectNotFound(
                    driver=DRIVER, what="domain", ref=ref) from None
            raise error("look up a domain", str(e)) from e

    def find(self, ref):
        try:
            return self.lookup(ref)
        except exception.HypervisorObjectNotFound:
            return None

    def wait_for_state(self, dom, wanted, timeout):
        deadline = time.monotonic() + timeout
        while state_of(dom) not in wanted:
            if time.monotonic() > deadline:
                raise error("wait for the domain",
                            f"still {state_of(dom)} after {timeout} s")
            time.sleep(0.05)

    def stop(self, dom):
        """Power the domain off at once (its disks are being replaced)."""
        if dom.isActive():
            dom.destroy()

    # --- guest agent --------------------------------------------------------

    def agent_command(self, dom, command, timeout=5):
        try:
            out = libvirt_qemu.qemuAgentCommand(dom, json.dumps(command), timeout, 0)
        except libvirt.libvirtError as e:
            raise exception.QuiesceFailed(server_id=dom.UUIDString(),
                                          reason=str(e)) from e
        return json.loads(out).get("return")

    def agent_alive(self, dom, timeout=None):
        timeout = timeout or CONF.libvirt.agent_timeout
        try:
            self.agent_command(dom, {"execute": "guest-ping"}, timeout)
            return True
        except exception.QuiesceFailed:
            return False

    def thaw(self, dom):
        """Thaw the guest's filesystems; harmless when nothing is frozen."""
        try:
            dom.fsThaw()
        except libvirt.libvirtError as e:
            LOG.debug("Thaw of %s: %s", dom.name(), e)

    def frozen(self, dom, timeout):
        """Freeze the guest's filesystems for a block of work, at most
        ``timeout`` seconds: a watchdog thaws the guest at the deadline
        whatever the work is doing. Yields a function that says whether
        the watchdog fired (the work then no longer ran frozen)."""
        return _Freeze(self, dom, timeout)

    # --- block jobs -----------------------------------------------------------

    def wait_block_job(self, dom, disk, timeout, progress=None, pivot=False):
        """Wait for the block job on ``disk`` to finish (or, for an active
        commit, to be ready and then pivot), reporting its progress.

        Polled at 5 ms, doubling up to 50 ms: a merge of a small layer is
        ready within a few ms, which a fixed 50 ms poll stretched to 50."""
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            info = dom.blockJobInfo(disk, 0)
            if not info:
                return  # finished and gone (non-active commit, pull)
            cur, end = info.get("cur", 0), info.get("end", 0)
            if progress is not None and end:
                progress(int(100 * cur / end))
            if pivot and end and cur == end and info.get("ready", 1):
                dom.blockJobAbort(disk, libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT)
                self._wait_job_gone(dom, disk, deadline)
                return
            if time.monotonic() > deadline:
                dom.blockJobAbort(disk, 0)
                raise error("merge a snapshot",
                            f"the block job on {disk} did not finish within "
                            f"{timeout} s and was cancelled")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _wait_job_gone(self, dom, disk, deadline):
        delay = 0.005
        while dom.blockJobInfo(disk, 0):
            if time.monotonic() > deadline:
                raise error("merge a snapshot", f"the pivot on {disk} did not end")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


class _Freeze:
    def __init__(self, host, dom, timeout):
        self.host = host
        self.dom = dom
        self.timeout = timeout
        self.fired = False
        self.frozen_ms = None
        self._timer = None
        self._started = None

    def __enter__(self):
        self._started = time.monotonic()
        try:
            count = self.dom.fsFreeze()
        except libvirt.libvirtError as e:
            self.host.thaw(self.dom)  # a partial freeze is undone at once
            raise exception.QuiesceFailed(server_id=self.dom.UUIDString(),
                                          reason=str(e)) from e
        if not count:
            self.host.thaw(self.dom)
            raise exception.QuiesceFailed(server_id=self.dom.UUIDString(),
                                          reason="the guest froze no filesystem")
        self._timer = threading.Timer(self.timeout, self._expire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def _expire(self):
        self.fired = True
        LOG.error("Guest %s stayed frozen %.1f s, the cap: thawing it",
                  self.dom.name(), self.timeout)
        self.host.thaw(self.dom)

    def __exit__(self, *exc):
        self._timer.cancel()
        self.host.thaw(self.dom)
        self.frozen_ms = int((time.monotonic() - self._started) * 1000)
        return False

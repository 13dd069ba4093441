"""The connection to libvirtd and the bounded primitives the driver builds on:
domain lookup and state, the guest agent, freeze/thaw with a watchdog
(``quiesce.py``), and block jobs waited on with a deadline.

libvirtd can be restarted under a running service (an upgrade, a crash, an
operator): the domains keep running, but the connection and every virDomain
looked up on it fail from then on. The connection is therefore checked before
use and reopened (bounded retries), and domains are :class:`Domain` handles
that find their domain again, by UUID, on the new connection. Every
connection opened gets the driver's domain event callbacks (``events.py``),
and a reconnection announces every domain once: what changed while libvirtd
was away reached no callback.
"""

import json
import threading
import time

from oslo_log import log as logging
from oslo_utils import uuidutils
import tenacity

from nativesnap.common import failpoints
from nativesnap.common import states
from nativesnap.conf import CONF
from nativesnap import exception
from nativesnap.virt.libvirt import events
from nativesnap.virt.libvirt import quiesce

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


# Domain calls that only read, or that change nothing more when made twice:
# after a lost connection they are made again on the new one. Any other call
# is made only on a connection just found alive, and never repeated: whether
# a libvirtd that went away during the call had done it is unknown.
_REPEATABLE = frozenset({
    "UUIDString", "name", "ID", "XMLDesc", "isActive", "isPersistent", "state",
    "info", "blockInfo", "blockJobInfo", "snapshotLookupByName",
    "listAllSnapshots", "snapshotNum", "fsThaw", "hasManagedSaveImage"})


class Domain:
    """A libvirt domain that outlives the connection it was looked up on: each
    call goes to the domain as the host's current connection has it."""

    def __init__(self, host, dom, generation):
        self._host = host
        self._dom = dom
        self._uuid = dom.UUIDString()
        self._generation = generation

    def __repr__(self):
        return f"<Domain {self._uuid}>"

    def UUIDString(self):  # noqa: N802 - libvirt's name
        return self._uuid

    def resolve(self, probe=False):
        """This domain's virDomain on the current connection (reconnecting
        first if the connection is lost; ``probe``: check it with a call)."""
        conn, generation = self._host.current(probe)
        if generation != self._generation:
            self._dom = conn.lookupByUUIDString(self._uuid)
            self._generation = generation
        return self._dom

    def __getattr__(self, name):
        if name.startswith("_") or not callable(getattr(libvirt.virDomain, name,
                                                        None)):
            raise AttributeError(name)
        repeatable = name in _REPEATABLE

        def call(*args, **kwargs):
            dom = self.resolve(probe=not repeatable)
            try:
                return getattr(dom, name)(*args, **kwargs)
            except libvirt.libvirtError as e:
                if self._host.alive(dom.connect()):
                    raise
                LOG.warning("Lost the connection to libvirtd during %s of domain "
                            "%s (%s)", name, self._uuid, e)
                if not repeatable:
                    raise error(f"complete {name} on domain {self._uuid}",
                                f"the connection to libvirtd was lost during the "
                                f"call ({e}); libvirtd was probably restarted. "
                                "The call is not repeated: whether libvirtd "
                                "made it is unknown") from e
            return getattr(self.resolve(), name)(*args, **kwargs)

        return call


class Host:
    def __init__(self, on_event=None):
        """``on_event(ServerEvent)``: called from libvirt's event loop for
        domain changes, on whichever connection is open (None: no events)."""
        self._conn = None
        self._generation = 0
        self._lock = threading.Lock()
        self.keeper = quiesce.ThawKeeper(self)
        self.domain_events = (events.DomainEvents(on_event) if on_event
                              else None)

    # --- connection ----------------------------------------------------------

    def connection(self):
        """A connection to libvirtd found alive by a call just now."""
        return self.current(probe=True)[0]

    def current(self, probe=False):
        """(connection, generation): the open connection, reopened first if
        it is known to be lost (``probe``: check it with a cheap call first,
        which is how a connection whose libvirtd went away is found out)."""
        if libvirt is None:
            raise error("connect", "the libvirt Python bindings are not installed "
                                   "(Debian package python3-libvirt)")
        reconnected = False
        with self._lock:
            if probe and self._conn is not None:
                try:
                    self._conn.getLibVersion()
                except libvirt.libvirtError as e:
                    LOG.debug("libvirt connection check: %s", e)
            if self._conn is None or not self.alive(self._conn):
                if self._conn is not None:
                    LOG.warning("The connection to libvirtd was lost; reconnecting")
                    self._drop()
                    reconnected = True
                self._conn = self._open()
                self._generation += 1
            conn, generation = self._conn, self._generation
        if reconnected and self.domain_events is not None:
            self._announce_all(conn)  # outside the lock: the listener's turn
        return conn, generation

    @staticmethod
    def alive(conn):
        try:
            return bool(conn.isAlive())
        except libvirt.libvirtError:
            return False

    def _open(self):
        uri = CONF.libvirt.uri
        # Before the open: a connection gets events only from an event loop
        # registered when it was opened (memory snapshots time their pause
        # by lifecycle events).
        events.start()

        # Retried from 0.1 s: a restarting libvirtd answers again within ≈ 0.5 s.
        @tenacity.retry(stop=tenacity.stop_after_delay(CONF.libvirt.connect_timeout),
                        wait=tenacity.wait_exponential(multiplier=0.1, max=5),
                        retry=tenacity.retry_if_exception_type(libvirt.libvirtError),
                        reraise=True)
        def _open_with_retry():
            return libvirt.open(uri)

        try:
            conn = _open_with_retry()
        except libvirt.libvirtError as e:
            raise error("connect", f"{uri}: {e}") from e
        LOG.info("Connected to %s (libvirt %s)", uri, conn.getLibVersion())
        if self.domain_events is not None:
            self.domain_events.register(conn)
        return conn

    def _drop(self):
        """Deregister the event callbacks and close the connection (called
        with the lock held). libvirt keeps a connection open while
        callbacks hold it, hence the callbacks first."""
        if self.domain_events is not None:
            self.domain_events.deregister()
        try:
            self._conn.close()
        except libvirt.libvirtError:
            pass
        self._conn = None

    def _announce_all(self, conn):
        try:
            uuids = [dom.UUIDString() for dom in conn.listAllDomains(0)]
        except libvirt.libvirtError as e:
            LOG.warning("Cannot list the domains after reconnecting (%s); their "
                        "changes meanwhile show at the next periodic sync", e)
            return
        self.domain_events.announce(uuids)

    def close(self):
        self.keeper.stop()
        with self._lock:
            if self._conn is not None:
                self._drop()

    def lib_version(self):
        return self.connection().getLibVersion()

    # --- domains ---------------------------------------------------------------

    def lookup(self, ref):
        conn, generation = self.current(probe=True)
        try:
            if uuidutils.is_uuid_like(ref):
                return Domain(self, conn.lookupByUUIDString(ref), generation)
            return Domain(self, conn.lookupByName(ref), generation)
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
        """One guest agent command, its answer waited for at most ``timeout``
        s (libvirt's own fsFreeze/fsThaw would wait without a limit)."""
        try:
            if isinstance(dom, Domain):
                dom = dom.resolve()
            out = libvirt_qemu.qemuAgentCommand(dom, json.dumps(command),
                                                int(timeout), 0)
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
        """Thaw the guest's filesystems; harmless when nothing is frozen. A
        thaw the agent does not confirm goes on in the background."""
        return quiesce.thaw(self, self.keeper, dom)

    def frozen(self, dom, timeout):
        """Freeze the guest's filesystems for a block of work, the freeze
        request and the frozen time bounded by ``timeout`` seconds (see
        ``quiesce.Freeze``)."""
        return quiesce.Freeze(self, self.keeper, dom, timeout)

    def resume_pending_thaws(self):
        """At start-up: thaw again the guests an earlier run could not."""
        self.keeper.resume()

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
                failpoints.hit("libvirt.delete.before_pivot")
                try:
                    dom.blockJobAbort(disk,
                                      libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT)
                    self._wait_job_gone(dom, disk, deadline)
                    return
                except libvirt.libvirtError as e:
                    # cur == end can show before libvirt has taken QEMU's
                    # "ready" event: "not ready for pivot yet". Poll again.
                    if e.get_error_code() != libvirt.VIR_ERR_BLOCK_COPY_ACTIVE:
                        raise
            if time.monotonic() > deadline:
                dom.blockJobAbort(disk, 0)
                raise error("merge a snapshot",
                            f"the block job on {disk} did not finish within "
                            f"{timeout} s and was cancelled")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def abort_block_job(self, dom, disk):
        """Cancel the block job on ``disk``, if any, without pivot (the
        chain stays as it was); harmless when there is none."""
        try:
            if dom.blockJobInfo(disk, 0):
                dom.blockJobAbort(disk, 0)
        except libvirt.libvirtError as e:
            LOG.warning("Could not cancel the block job on %s of %s: %s", disk,
                        dom.name(), e)

    def _wait_job_gone(self, dom, disk, deadline):
        delay = 0.005
        while dom.blockJobInfo(disk, 0):
            if time.monotonic() > deadline:
                raise error("merge a snapshot", f"the pivot on {disk} did not end")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


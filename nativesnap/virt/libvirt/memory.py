"""Memory snapshots of running domains: the RAM saved while the guest runs,
the time its vCPUs were really stopped, and a save that can be cancelled.

**Live save.** With ``[libvirt] live_memory_snapshots`` (the default) the
``snapshotCreateXML`` call carries ``VIR_DOMAIN_SNAPSHOT_CREATE_LIVE``: libvirt
has QEMU migrate the RAM into the memory file while the vCPUs run, in passes
(each copies what the guest dirtied during the last). QEMU stops the vCPUs
once what is left fits in its downtime limit (300 ms by default), writes the
rest and the device state; libvirt then syncs the file, switches the disks to
their new overlays and resumes the vCPUs. RAM and disks are captured at that
one stop, so they stay consistent. Without the flag libvirt stops the vCPUs
before the first page and keeps them stopped for the whole save.

**What bounds it.** Nothing in QEMU or libvirt: libvirt sets no iteration cap
and no auto-converge for a save, and a guest that dirties its RAM faster than
the file takes it never gets under the downtime limit, while every pass makes
the file larger. nativesnap therefore watches the job: once it has copied
``[libvirt] live_memory_copy_limit`` times the guest's RAM, it pauses the
guest (libvirt allows a pause during the save), so the last pass ends; libvirt
resumes the guest at the end as usual. The task's timeout bounds the whole
call: a cancelled task (timeout or shutdown, seen through ``progress``) ends
the save with ``abortJob``, after which libvirt removes the memory file and
leaves the disks as they were.

**The pause.** ``paused_ms`` is the time between the domain's SUSPENDED and
RESUMED lifecycle events, taken as nativesnap receives them (``events.py``).
Two other sources were measured and rejected (docs/libvirt.md, "Memory
snapshots"): QEMU's own ``downtime`` in the completed job's statistics counts
only QEMU's stop, not libvirt's sync of the file, disk switch and resume, and
was 3–10 ms for pauses of 89–99 ms; the call's wall time includes the whole
live copy. Should no event arrive, ``paused_ms`` falls back to the call's wall
time (an upper bound), and the snapshot's ``driver_info`` says which source
gave the figure.

**Why the file is synced while it is written.** libvirt's I/O helper
fdatasyncs the memory file after QEMU has stopped the vCPUs and before libvirt
resumes them; with the guest's ≈ 110 MiB of RAM still in the host's page cache
that sync was half of a ≈ 100 ms pause. Syncing the file every few ms while
libvirt writes it leaves that last sync almost nothing to do.
"""

import dataclasses
import os
import threading
import time

from oslo_log import log as logging

from nativesnap.conf import CONF
from nativesnap.virt.libvirt import events
from nativesnap.virt.libvirt import host as host_mod

try:
    import libvirt
except ImportError:
    libvirt = None

LOG = logging.getLogger(__name__)

POLL_SECONDS = 0.05      # how often the task's cancellation is checked
STATS_SECONDS = 0.25     # how often the save's progress is read from libvirt
FLUSH_SECONDS = 0.02     # between two syncs of the memory file being written
# The lifecycle events can reach nativesnap just after the call's answer.
EVENT_WAIT_SECONDS = 2.0
# For libvirt to end a save after abortJob (QEMU stops at its next write).
ABORT_WAIT_SECONDS = 30.0

# Where a snapshot's paused_ms came from (recorded in its driver_info).
BY_EVENTS = "lifecycle events"
BY_CALL = "call wall time"
ALREADY_PAUSED = "already paused"

# Progress reported while the RAM is saved: between the driver's 5 and 100.
_PROGRESS_FROM, _PROGRESS_SPAN = 5, 85


@dataclasses.dataclass
class Saved:
    """How a memory snapshot's save went (kept in the snapshot's driver_info
    under "memory_save")."""
    paused_ms: int
    call_ms: int
    paused_from: str
    live: bool
    forced_pause: bool = False
    qemu_downtime_ms: int | None = None

    def record(self):
        return dataclasses.asdict(self)


def over_copy_limit(stats, limit):
    """Whether a running save has copied more than ``limit`` times the
    guest's RAM (``stats``: libvirt's job statistics)."""
    total = stats.get("memory_total") or 0
    return (stats.get("type") == libvirt.VIR_DOMAIN_JOB_UNBOUNDED and total > 0
            and (stats.get("memory_processed") or 0) > limit * total)


def progress_percent(stats):
    """The task's progress while the RAM is saved, from the job's statistics
    (a live save can copy more than the RAM: capped)."""
    total = stats.get("memory_total") or 0
    if not total:
        return _PROGRESS_FROM
    done = min(1.0, (stats.get("memory_processed") or 0) / total)
    return _PROGRESS_FROM + int(_PROGRESS_SPAN * done)


def paused_seconds(changes, until):
    """Total time paused from a list of (monotonic time, paused?) lifecycle
    changes; a pause with no resume yet is counted up to ``until``."""
    total = 0.0
    since = None
    for when, paused in changes:
        if paused and since is None:
            since = when
        elif not paused and since is not None:
            total += max(0.0, when - since)
            since = None
    if since is not None:
        total += max(0.0, until - since)
    return total


class PauseWatch:
    """The SUSPENDED and RESUMED lifecycle events of one domain while it is
    watched, each timed when it reaches nativesnap. ``watching`` is False
    when events cannot be had (no event loop, or libvirt refused)."""

    def __init__(self, dom):
        self.changes = []
        self._cond = threading.Condition()
        self._conn = self._callback_id = None
        if not events.running():
            return
        raw = dom.resolve() if isinstance(dom, host_mod.Domain) else dom
        try:
            self._conn = raw.connect()
            self._callback_id = self._conn.domainEventRegisterAny(
                raw, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_event, None)
        except libvirt.libvirtError as e:
            LOG.warning("Cannot watch the lifecycle events of domain %s (%s); "
                        "its memory snapshot's paused_ms will be the call's "
                        "wall time", dom.UUIDString(), e)

    @property
    def watching(self):
        return self._callback_id is not None

    def _on_event(self, _conn, _dom, event, _detail, _opaque):
        if event in (libvirt.VIR_DOMAIN_EVENT_SUSPENDED,
                     libvirt.VIR_DOMAIN_EVENT_RESUMED):
            with self._cond:
                self.changes.append((time.monotonic(),
                                     event == libvirt.VIR_DOMAIN_EVENT_SUSPENDED))
                self._cond.notify_all()

    def wait_pause_over(self, timeout):
        """Wait (at most ``timeout`` s: the events can reach nativesnap just
        after the call's answer) until a pause and then a resume were seen.
        True when a pause was seen, resumed or not."""
        with self._cond:
            self._cond.wait_for(lambda: self.changes and not self.changes[-1][1],
                                timeout)
            return any(paused for _when, paused in self.changes)

    def close(self):
        if self._callback_id is not None:
            try:
                self._conn.domainEventDeregisterAny(self._callback_id)
            except libvirt.libvirtError as e:
                LOG.debug("Deregistering a lifecycle callback: %s", e)
            self._callback_id = None


class _Flusher(threading.Thread):
    """Syncs the memory file to disk while libvirt writes it (see the module's
    docstring: libvirt's own final sync falls inside the pause)."""

    def __init__(self, path):
        super().__init__(name="nativesnap-memory-flush", daemon=True)
        self._path = path
        self._done = threading.Event()

    def run(self):
        fd = None
        try:
            while not self._done.is_set():
                if fd is None:
                    try:
                        fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
                    except FileNotFoundError:  # libvirt has not made it yet
                        self._done.wait(FLUSH_SECONDS)
                        continue
                os.fdatasync(fd)
                self._done.wait(FLUSH_SECONDS)
        except OSError as e:  # only an optimisation: libvirt syncs it anyway
            LOG.debug("Syncing %s while it is written: %s", self._path, e)
        finally:
            if fd is not None:
                os.close(fd)

    def stop(self):
        self._done.set()
        self.join(ABORT_WAIT_SECONDS)


class _Call(threading.Thread):
    """``snapshotCreateXML`` in a thread of its own, so that the task's
    thread can watch the job and cancel it, and on a connection of its own:
    with libvirt 9.0's client and an event loop registered, a call made on a
    connection while another thread waits there for a long call's answer was
    measured to wait 5.0 s (the keepalive interval) before it went out. The
    watching calls go to the host's connection, where no long call waits."""

    def __init__(self, uuid, doc, flags):
        super().__init__(name="nativesnap-memory-save", daemon=True)
        self._uuid, self._doc, self._flags = uuid, doc, flags
        self.error = None

    def run(self):
        conn = None
        try:
            conn = libvirt.open(CONF.libvirt.uri)
            conn.lookupByUUIDString(self._uuid).snapshotCreateXML(self._doc,
                                                                  self._flags)
        except BaseException as e:  # handed to the task's thread
            self.error = e
        finally:
            if conn is not None:
                try:
                    conn.close()
                except libvirt.libvirtError:
                    pass


def _job_stats(dom):
    try:
        return dom.jobStats(0) or {}
    except libvirt.libvirtError as e:
        LOG.debug("Reading the save's job statistics of %s: %s", dom.UUIDString(), e)
        return {}


def _is_running(dom):
    return dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING


def save(dom, doc, flags, memory_file, progress):
    """``snapshotCreateXML(doc, flags)`` of a snapshot with memory, LIVE when
    configured, watched: progress reported (``progress`` raises when the task
    is cancelled, which aborts the save), the copy bounded, the pause timed.
    Returns a :class:`Saved`; libvirt errors are DriverErrors."""
    live = CONF.libvirt.live_memory_snapshots
    if live:
        flags |= libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_LIVE
    was_running = _is_running(dom)
    watch = PauseWatch(dom)
    flusher = _Flusher(memory_file)
    call = _Call(dom.UUIDString(), doc, flags)
    forced = None   # None: not tried; then whether the pause was made
    percent = _PROGRESS_FROM
    started = time.monotonic()
    try:
        flusher.start()
        call.start()
        next_stats = started + STATS_SECONDS
        try:
            while True:
                call.join(POLL_SECONDS)
                if not call.is_alive():
                    break
                progress(percent)
                if time.monotonic() < next_stats:
                    continue
                next_stats = time.monotonic() + STATS_SECONDS
                stats = _job_stats(dom)
                percent = max(percent, progress_percent(stats))
                if (live and was_running and forced is None
                        and over_copy_limit(stats, CONF.libvirt.live_memory_copy_limit)):
                    forced = _pause_to_finish(dom, stats)
        except BaseException:
            if not _abort(dom, call):
                raise
        ended = time.monotonic()
        flusher.stop()
        if forced:
            _resume_if_left_paused(dom)
        if call.error is not None:
            if isinstance(call.error, libvirt.libvirtError):
                raise host_mod.error("create a snapshot",
                                     str(call.error)) from call.error
            raise call.error
        call_ms = int((ended - started) * 1000)
        if not was_running:
            paused_ms, paused_from = 0, ALREADY_PAUSED
        elif watch.watching and watch.wait_pause_over(EVENT_WAIT_SECONDS):
            paused_ms = int(paused_seconds(list(watch.changes), ended) * 1000)
            paused_from = BY_EVENTS
        else:
            LOG.warning("No lifecycle event of domain %s arrived during its memory "
                        "snapshot; paused_ms is the call's wall time (an upper "
                        "bound)", dom.UUIDString())
            paused_ms, paused_from = call_ms, BY_CALL
    finally:
        watch.close()
        if flusher.is_alive():
            flusher.stop()
    return Saved(paused_ms=paused_ms, call_ms=call_ms, paused_from=paused_from,
                 live=live, forced_pause=bool(forced),
                 qemu_downtime_ms=_qemu_downtime(dom))


def _pause_to_finish(dom, stats):
    LOG.warning("The live memory snapshot of domain %s copied %d MiB for %d MiB "
                "of RAM without converging (the guest dirties its RAM faster "
                "than the file is written); pausing the guest to finish it",
                dom.UUIDString(), (stats.get("memory_processed") or 0) >> 20,
                (stats.get("memory_total") or 0) >> 20)
    try:
        dom.suspend()
        return True
    except libvirt.libvirtError as e:
        LOG.error("Could not pause domain %s to finish its memory snapshot: %s",
                  dom.UUIDString(), e)
        return False


def _resume_if_left_paused(dom):
    """libvirt resumes the guest at the end of the save; a pause that reached
    libvirt just after that would leave it paused by nativesnap."""
    try:
        state, reason = dom.state()
        if (state == libvirt.VIR_DOMAIN_PAUSED
                and reason == libvirt.VIR_DOMAIN_PAUSED_USER):
            dom.resume()
    except libvirt.libvirtError as e:
        LOG.error("Could not resume domain %s after its memory snapshot: %s",
                  dom.UUIDString(), e)


def _abort(dom, call):
    """Cancel the save (the task was cancelled, or failed while watching it).
    Returns True when the save had already completed all the same: libvirt
    switched the disks, so the snapshot stands and is recorded."""
    LOG.warning("Cancelling the memory snapshot of domain %s", dom.UUIDString())
    try:
        dom.abortJob()
    except libvirt.libvirtError as e:  # no job any more: it just ended
        LOG.info("abortJob on domain %s: %s", dom.UUIDString(), e)
    call.join(ABORT_WAIT_SECONDS)
    if call.is_alive():
        LOG.error("libvirt did not end the cancelled memory snapshot of domain "
                  "%s within %d s", dom.UUIDString(), ABORT_WAIT_SECONDS)
        return False
    if call.error is None:
        LOG.warning("The memory snapshot of domain %s completed before it could "
                    "be cancelled; it is kept", dom.UUIDString())
        return True
    return False


def _qemu_downtime(dom):
    """QEMU's own downtime figure of the save just completed (recorded for
    comparison only: it leaves out libvirt's part of the pause)."""
    try:
        return (dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED) or {}).get(
            "downtime")
    except libvirt.libvirtError:
        return None


def abort_unfinished(dom):
    """Start-up recovery of an interrupted create: a save that the previous
    run of the service started may still be running in libvirtd (it goes on
    without its client). Cancel it, so that it cannot switch the disks to
    overlays the roll-back is about to remove; bounded."""
    stats = _job_stats(dom)
    if (stats.get("type") in (None, libvirt.VIR_DOMAIN_JOB_NONE)
            or stats.get("operation") != libvirt.VIR_DOMAIN_JOB_OPERATION_SNAPSHOT):
        return
    LOG.warning("Domain %s still runs the snapshot job of an interrupted task; "
                "cancelling it", dom.UUIDString())
    try:
        dom.abortJob()
    except libvirt.libvirtError as e:
        LOG.info("abortJob on domain %s: %s", dom.UUIDString(), e)
    deadline = time.monotonic() + ABORT_WAIT_SECONDS
    while _job_stats(dom).get("type") not in (None, libvirt.VIR_DOMAIN_JOB_NONE):
        if time.monotonic() > deadline:
            LOG.error("The snapshot job of domain %s did not end within %d s",
                      dom.UUIDString(), ABORT_WAIT_SECONDS)
            return
        time.sleep(POLL_SECONDS)

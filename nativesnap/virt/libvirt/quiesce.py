"""Freezing a guest's filesystems for a snapshot, bounded, and making sure the
guest is thawed afterwards, whatever its agent does.

The guest agent (qemu-ga) freezes and thaws. libvirt's ``fsFreeze`` and
``fsThaw`` wait for its answer without a limit (a domain's agent timeout is
"block" unless someone set it): an agent that took the freeze request and
then hung held the snapshot task, and the guest, for as long as it hung. The
freeze and the thaw are therefore sent with ``qemuAgentCommand`` and a
timeout of their own: the freeze waits at most ``[libvirt]
max_freeze_seconds``, the thaw ``[libvirt] agent_timeout`` (plus the ≤ 5 s
libvirt gives its ``guest-sync`` handshake before every command).

A timed-out request is not a cancelled one: an agent that wakes up later
carries out the freeze it had taken, and the guest is frozen *after*
nativesnap gave up on it. So a thaw that could not be confirmed, while an
agent is connected to the domain, is handed to the :class:`ThawKeeper`: it
sends the thaw again in the background (backing off to every 5 s) until the
agent answers one, the domain stops, or ``[libvirt] thaw_retry_timeout``
passes. The agent answers in order, so a freeze it took late is undone by
that thaw. Pending thaws are recorded as files named by the domain's UUID in
``<overlay_path>/.thaw-pending/``, so that a restart of the service carries
on with them.

A domain with no agent connected cannot have been frozen by one: a thaw that
fails for that reason is not kept (a guest without qemu-ga would otherwise be
"thawed" for a day).
"""

import math
import os
import threading
import time

from oslo_log import log as logging
from oslo_utils import uuidutils

from nativesnap.conf import CONF
from nativesnap import exception
from nativesnap.virt.libvirt import xml as lxml_xml

try:
    import libvirt
except ImportError:
    libvirt = None

LOG = logging.getLogger(__name__)

FREEZE = {"execute": "guest-fsfreeze-freeze"}
THAW = {"execute": "guest-fsfreeze-thaw"}

# An agent exchange that fails faster than this never reached a working agent
# (none connected, or it answered with an error); a slower one timed out.
_QUICK_FAILURE = 1.0
_RETRY_FIRST, _RETRY_MAX = 0.5, 5.0


def _agent_connected(dom):
    try:
        return lxml_xml.agent_connected(dom.XMLDesc(0))
    except (libvirt.libvirtError, exception.NativesnapException):
        return True  # cannot tell: assume the worst (a frozen guest)


class ThawKeeper:
    """Thaws again, in the background, every guest whose thaw failed."""

    def __init__(self, host):
        self._host = host
        self._cond = threading.Condition()
        self._pending = {}  # domain uuid -> [next attempt, give-up time, delay, tries]
        self._owners = {}  # domain uuid -> Lock held by a freeze or an attempt
        self._thread = None
        self._stopping = False

    @staticmethod
    def _marker_dir():
        return os.path.join(CONF.libvirt.overlay_path, ".thaw-pending")

    def owner_lock(self, uuid):
        """The lock a freeze of the domain holds from its freeze to its
        thaw, so no background thaw cuts into that window."""
        with self._cond:
            return self._owners.setdefault(uuid, threading.Lock())

    def resume(self):
        """At start-up: carry on with the thaws a previous run left pending."""
        try:
            names = os.listdir(self._marker_dir())
        except FileNotFoundError:
            return
        for name in names:
            if uuidutils.is_uuid_like(name):
                LOG.warning("Guest %s was left possibly frozen by an earlier run; "
                            "thawing it", name)
                self.keep_thawing(name)

    def keep_thawing(self, uuid):
        marker = os.path.join(self._marker_dir(), uuid)
        try:
            os.makedirs(self._marker_dir(), mode=0o700, exist_ok=True)
            with open(marker, "w"):
                pass
        except OSError as e:  # e.g. a full disk: keep it in memory only
            LOG.warning("Could not record the pending thaw of %s in %s: %s",
                        uuid, marker, e)
        with self._cond:
            now = time.monotonic()
            self._pending[uuid] = [now + _RETRY_FIRST,
                                   now + CONF.libvirt.thaw_retry_timeout,
                                   _RETRY_FIRST, 0]
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="nativesnap-thaw-keeper")
                self._thread.start()
            self._cond.notify_all()

    def forget(self, uuid):
        with self._cond:
            self._pending.pop(uuid, None)
        try:
            os.unlink(os.path.join(self._marker_dir(), uuid))
        except FileNotFoundError:
            pass
        except OSError as e:
            LOG.warning("Could not remove the thaw marker of %s: %s", uuid, e)

    def stop(self):
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def _run(self):
        while True:
            with self._cond:
                while not self._stopping:
                    now = time.monotonic()
                    due = [u for u, p in self._pending.items() if p[0] <= now]
                    if due:
                        break
                    wake = min((p[0] for p in self._pending.values()), default=None)
                    self._cond.wait(None if wake is None else wake - now)
                if self._stopping:
                    return
            for uuid in due:
                self._attempt(uuid)

    def _attempt(self, uuid):
        lock = self.owner_lock(uuid)
        if not lock.acquire(blocking=False):
            self._reschedule(uuid)  # a new freeze owns the guest's thaw now
            return
        try:
            dom = self._host.find(uuid)
            if dom is None or not dom.isActive():
                LOG.info("Guest %s is no longer running: nothing to thaw", uuid)
                self.forget(uuid)
                return
            self._host.agent_command(dom, THAW, CONF.libvirt.agent_timeout)
        except (exception.NativesnapException, libvirt.libvirtError) as e:
            LOG.debug("Thaw of guest %s failed again: %s", uuid, e)
            self._reschedule(uuid)
            return
        finally:
            lock.release()
        with self._cond:
            tries = self._pending.get(uuid, [0, 0, 0, 0])[3] + 1
        LOG.warning("Guest %s thawed: its agent answered the thaw (attempt %d "
                    "in the background)", uuid, tries)
        self.forget(uuid)

    def _reschedule(self, uuid):
        with self._cond:
            entry = self._pending.get(uuid)
            if entry is None:
                return
            now = time.monotonic()
            entry[3] += 1
            if now >= entry[1]:
                LOG.error("Gave up thawing guest %s after %d attempts over %d s: "
                          "its agent never answered. Thaw it from inside the "
                          "guest (fsfreeze -u) or restart the guest.", uuid,
                          entry[3], CONF.libvirt.thaw_retry_timeout)
                del self._pending[uuid]
            else:
                entry[2] = min(entry[2] * 2, _RETRY_MAX)
                entry[0] = now + entry[2]
                return
        self.forget(uuid)  # given up: its marker goes too


def thaw(host, keeper, dom, patient=False):
    """Thaw the guest now; True when the agent confirmed it. A thaw still
    unconfirmed while an agent is connected goes on in the background.

    ``patient``: the guest is known to be frozen (this process froze it), so
    quick failures, e.g. an agent libvirt has not reconnected yet after a
    restart of libvirtd (≈ 0.1 s), are retried for up to ``agent_timeout``."""
    uuid = dom.UUIDString()
    deadline = time.monotonic() + (CONF.libvirt.agent_timeout if patient else 0)
    while True:
        started = time.monotonic()
        try:
            host.agent_command(dom, THAW, CONF.libvirt.agent_timeout)
            return True
        except (exception.NativesnapException, libvirt.libvirtError) as e:
            error = e.__cause__ or e  # libvirt's own words
        now = time.monotonic()
        if now - started >= _QUICK_FAILURE or now >= deadline:
            break
        time.sleep(0.1)
    if _agent_connected(dom):
        LOG.error("Could not thaw guest %s (%s); it may still be frozen: "
                  "thawing it again in the background until its agent answers",
                  uuid, error)
        keeper.keep_thawing(uuid)
    else:
        LOG.warning("Could not thaw guest %s: no guest agent is connected "
                    "(%s)", uuid, error)
    return False


class Freeze:
    """The guest's filesystems frozen for a block of work: the freeze request
    waits at most ``timeout`` s, and a watchdog thaws the guest ``timeout`` s
    after the request whatever the work is doing. ``fired`` says whether the
    watchdog fired (the work then no longer ran frozen); ``frozen_ms`` is the
    time from the freeze request to the confirmed thaw, None when no thaw
    was confirmed (the keeper goes on with it)."""

    def __init__(self, host, keeper, dom, timeout):
        self.host = host
        self.keeper = keeper
        self.dom = dom
        self.timeout = timeout
        self.fired = False
        self.frozen_ms = None
        self._uuid = dom.UUIDString()
        self._lock = threading.Lock()
        self._thawed_at = None
        self._timer = None
        self._started = None
        self._frozen_at = None  # the freeze call returned
        self._thaw_requested = None
        self._owner = None

    def __enter__(self):
        self._owner = self.keeper.owner_lock(self._uuid)
        if not self._owner.acquire(timeout=2 * CONF.libvirt.agent_timeout + 10):
            raise exception.QuiesceFailed(
                server_id=self._uuid,
                reason="a background thaw of the guest does not end")
        # This freeze's own thaw supersedes one still pending from before.
        self.keeper.forget(self._uuid)
        self._started = time.monotonic()
        try:
            count = self.host.agent_command(self.dom, FREEZE,
                                            math.ceil(self.timeout))
            failure = None
        except exception.QuiesceFailed as e:
            failure = e
        if failure is not None:
            self._after_failed_freeze()
            raise failure
        self._frozen_at = time.monotonic()
        if not count:
            self._release()
            raise exception.QuiesceFailed(server_id=self._uuid,
                                          reason="the guest froze no filesystem")
        left = self._started + self.timeout - time.monotonic()
        self._timer = threading.Timer(max(left, 0), self._expire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def _after_failed_freeze(self):
        """A freeze that failed may have frozen some filesystems (an agent
        undoes its own partial freeze, but one that timed out may freeze
        later): thaw at once, or in the background if the agent hangs."""
        try:
            if time.monotonic() - self._started >= _QUICK_FAILURE:
                if _agent_connected(self.dom):
                    LOG.error("Guest %s's agent did not answer the freeze "
                              "request within %.1f s (it may still carry it "
                              "out); thawing it in the background until it "
                              "answers", self._uuid, self.timeout)
                    self.keeper.keep_thawing(self._uuid)
            elif _agent_connected(self.dom):
                thaw(self.host, self.keeper, self.dom)
            # else: no agent took the request, nothing can be frozen.
        finally:
            self._release()

    def _thaw(self):
        with self._lock:
            if self._thaw_requested is None:
                self._thaw_requested = time.monotonic()
        if thaw(self.host, self.keeper, self.dom, patient=True):
            with self._lock:
                if self._thawed_at is None:
                    self._thawed_at = time.monotonic()

    def _expire(self):
        self.fired = True
        LOG.error("Guest %s stayed frozen %.1f s, the cap: thawing it",
                  self._uuid, self.timeout)
        self._thaw()

    def __exit__(self, *exc):
        self._timer.cancel()
        with self._lock:
            thawed = self._thawed_at is not None
        if not thawed:
            self._thaw()
        with self._lock:
            if self._thawed_at is not None:
                self.frozen_ms = int((self._thawed_at - self._started) * 1000)
        self._release()
        return False

    def window(self):
        """The frozen window's parts in ms (docs/performance.md, "Frozen
        time"): the freeze call, the work done frozen, the thaw call; None
        for a part that did not happen."""
        def ms(start, end):
            return None if start is None or end is None else round(
                (end - start) * 1000, 1)
        with self._lock:
            return {"freeze_call_ms": ms(self._started, self._frozen_at),
                    "frozen_work_ms": ms(self._frozen_at, self._thaw_requested),
                    "thaw_call_ms": ms(self._thaw_requested, self._thawed_at),
                    "frozen_ms": ms(self._started, self._thawed_at),
                    "watchdog_fired": self.fired}

    def _release(self):
        if self._owner is not None:
            self._owner.release()
            self._owner = None

"""libvirt's event loop, one per process.

Domain lifecycle events (a memory snapshot times the guest's pause by them,
see ``memory.py``) reach a client only through an event loop the client
registers *before* it opens its first connection: libvirt ties each
connection to the event implementation present when it was opened. The
loop is libvirt's own default implementation, run by one daemon thread;
``start()`` is idempotent and is called by ``host.Host`` before every open.

The same loop also lets libvirt send its keepalive messages, so a libvirtd
that stops answering is noticed by the connection itself (``isAlive()``
turns false), which ``host.Host`` already handles by reconnecting.

The loop also tells the manager what changes on a domain between tasks (a
guest stopped from outside, a disk hot-plugged): :class:`DomainEvents` turns
libvirt's lifecycle and device events into the contract's ``ServerEvent``s,
so that the server's record follows the domain and no API request has to ask
libvirt (docs/architecture.md). Its callbacks run on the loop's one thread,
which also carries every other connection's events and keepalives: they make
no libvirt call that goes to libvirtd (a domain's UUID is known to the
client) and never let an exception through. ``host.Host`` registers them on
every connection it opens, a reconnection after a restart of libvirtd
included, and deregisters them before it drops a connection.
"""

import threading
import time

from oslo_log import log as logging

from nativesnap.virt import driver

try:
    import libvirt
except ImportError:
    libvirt = None

LOG = logging.getLogger(__name__)

_lock = threading.Lock()
_thread = None
# After a failed iteration (libvirt reports -1 only for an internal error)
# the loop waits before the next, so that a broken loop cannot spin a core.
_RETRY_SECONDS = 1.0

# Lifecycle events after which a domain's disks may differ though no device
# event came: its definition was replaced (defineXML, as `virsh edit` does),
# or the domain started or stopped, which brings in its definition's disks
# and ends those hot-plugged into the running domain only. (libvirt 9.0 sends
# no event at all for attachDeviceFlags with AFFECT_CONFIG alone: such a
# change shows at the manager's periodic sync.)
_DISK_SET_CHANGES = () if libvirt is None else (
    libvirt.VIR_DOMAIN_EVENT_DEFINED, libvirt.VIR_DOMAIN_EVENT_UNDEFINED,
    libvirt.VIR_DOMAIN_EVENT_STARTED, libvirt.VIR_DOMAIN_EVENT_STOPPED)


def start():
    """Register libvirt's default event implementation and run it in a
    daemon thread, once per process. Returns True when the loop runs."""
    global _thread
    if libvirt is None:
        return False
    with _lock:
        if _thread is None:
            libvirt.virEventRegisterDefaultImpl()
            _thread = threading.Thread(target=_run, name="nativesnap-libvirt-events",
                                       daemon=True)
            _thread.start()
    return True


def running():
    return _thread is not None and _thread.is_alive()


def _run():
    while True:
        try:
            if libvirt.virEventRunDefaultImpl() < 0:
                LOG.error("libvirt's event loop reported an error")
                time.sleep(_RETRY_SECONDS)
        except Exception:
            LOG.exception("libvirt's event loop failed")
            time.sleep(_RETRY_SECONDS)


class DomainEvents:
    """The lifecycle and device callbacks of one connection at a time, each
    handing a ServerEvent to ``emit`` (the driver's ``emit_event``): every
    lifecycle event is an EVENT_STATE, device events and the lifecycle
    events of ``_DISK_SET_CHANGES`` are (also) an EVENT_VOLUMES."""

    def __init__(self, emit):
        self._emit = emit
        self._conn = None
        self._ids = []

    def register(self, conn):
        """Register every callback on ``conn`` (the connection just opened).
        A callback libvirt refuses is logged: the manager's periodic sync
        still brings the record up to date, only later."""
        self.deregister()
        self._conn = conn
        wanted = ((libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_lifecycle),
                  (libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, self._on_device),
                  (libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, self._on_device))
        for event_id, callback in wanted:
            try:
                self._ids.append(conn.domainEventRegisterAny(
                    None, event_id, callback, None))
            except libvirt.libvirtError as e:
                LOG.error("Cannot register for libvirt's domain events (id %d): "
                          "%s; domain changes made outside nativesnap show at "
                          "the next periodic sync", event_id, e)

    def deregister(self):
        """Deregister the callbacks and forget the connection. On a lost
        connection libvirt cannot be told; the callbacks die with it."""
        for callback_id in self._ids:
            try:
                self._conn.domainEventDeregisterAny(callback_id)
            except libvirt.libvirtError as e:
                LOG.debug("Deregistering domain event callback %d: %s",
                          callback_id, e)
        self._conn = None
        self._ids = []

    def announce(self, uuids):
        """Both kinds of event for each domain: after a reconnection, for
        whatever changed while no connection could hear it."""
        for uuid in uuids:
            self._send(uuid, driver.EVENT_STATE)
            self._send(uuid, driver.EVENT_VOLUMES)

    # On the event loop's thread (see the module's docstring).

    def _on_lifecycle(self, conn, dom, event, _detail, _opaque):
        self._send_for(conn, dom, driver.EVENT_STATE)
        if event in _DISK_SET_CHANGES:
            self._send_for(conn, dom, driver.EVENT_VOLUMES)

    def _on_device(self, conn, dom, _alias, _opaque):
        self._send_for(conn, dom, driver.EVENT_VOLUMES)

    def _send_for(self, conn, dom, kind):
        if conn is not self._conn:
            return  # a connection dropped whose callbacks could not be removed
        try:
            uuid = dom.UUIDString()  # the client's copy: no call to libvirtd
        except Exception:
            LOG.exception("A domain event without a domain UUID")
            return
        self._send(uuid, kind)

    def _send(self, uuid, kind):
        try:
            self._emit(driver.ServerEvent(hypervisor_ref=uuid, kind=kind))
        except Exception:
            LOG.exception("The listener of domain events failed on a %s event "
                          "of domain %s", kind, uuid)

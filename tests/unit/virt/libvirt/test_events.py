"""Domain events, without libvirtd: libvirt's lifecycle and device callbacks
become the contract's ServerEvents keyed by the domain's UUID, a failing
listener never reaches libvirt's event loop, and host.Host registers the
callbacks on every connection it opens (a reconnection included, which then
announces every domain) and deregisters them before it drops one.
(tests/functional/test_libvirt_events.py runs them against libvirtd.)"""

import libvirt
import pytest

from nativesnap.virt import driver
from nativesnap.virt.libvirt import events
from nativesnap.virt.libvirt import host as host_mod

UUID_A = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
UUID_B = "6fa459ea-ee8a-3ca4-894e-db77e160355e"

CALLBACK_IDS = {libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
                libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED}


class FakeDomain:
    def __init__(self, uuid):
        self.uuid = uuid

    def UUIDString(self):  # noqa: N802 - libvirt's name
        return self.uuid


class FakeConnection:
    """What Host and DomainEvents call on a connection."""

    def __init__(self, uuids=(), refuse=()):
        self.callbacks = {}  # callback id -> (event id, callback)
        self.deregistered = []
        self.alive = True
        self.closed = False
        self.uuids = uuids
        self.refuse = set(refuse)

    def domainEventRegisterAny(self, dom, event_id, callback, opaque):  # noqa: N802
        assert dom is None  # every domain of the connection
        if event_id in self.refuse:
            raise libvirt.libvirtError("refused")
        callback_id = len(self.callbacks) + len(self.deregistered) + 1
        self.callbacks[callback_id] = (event_id, callback)
        return callback_id

    def domainEventDeregisterAny(self, callback_id):  # noqa: N802
        if not self.alive:
            raise libvirt.libvirtError("client socket is closed")
        self.deregistered.append(self.callbacks.pop(callback_id)[0])

    def fire(self, event_id, uuid, lifecycle=libvirt.VIR_DOMAIN_EVENT_SUSPENDED):
        """What libvirt's event loop does for an event of ``event_id`` (of
        the ``lifecycle`` kind, for lifecycle events)."""
        for registered_id, callback in list(self.callbacks.values()):
            if registered_id != event_id:
                continue
            if event_id == libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE:
                callback(self, FakeDomain(uuid), lifecycle, 0, None)
            else:
                callback(self, FakeDomain(uuid), "scsi0-0-0-1", None)

    def isAlive(self):  # noqa: N802
        return self.alive

    def getLibVersion(self):  # noqa: N802
        if not self.alive:
            raise libvirt.libvirtError("lost")
        return 9_000_000

    def listAllDomains(self, flags):  # noqa: N802
        return [FakeDomain(u) for u in self.uuids]

    def close(self):
        self.closed = True
        return 0


def test_lifecycle_events_are_state_events_and_device_events_volume_events():
    received = []
    conn = FakeConnection()
    events.DomainEvents(received.append).register(conn)
    assert {event_id for event_id, _cb in conn.callbacks.values()} == CALLBACK_IDS
    conn.fire(libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, UUID_A)
    conn.fire(libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, UUID_B)
    conn.fire(libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, UUID_B)
    assert received == [driver.ServerEvent(UUID_A, driver.EVENT_STATE),
                        driver.ServerEvent(UUID_B, driver.EVENT_VOLUMES),
                        driver.ServerEvent(UUID_B, driver.EVENT_VOLUMES)]


@pytest.mark.parametrize("lifecycle", [libvirt.VIR_DOMAIN_EVENT_DEFINED,
                                       libvirt.VIR_DOMAIN_EVENT_UNDEFINED,
                                       libvirt.VIR_DOMAIN_EVENT_STARTED,
                                       libvirt.VIR_DOMAIN_EVENT_STOPPED])
def test_lifecycle_events_that_can_change_the_disks_are_volume_events_too(
        lifecycle):
    # A disk attached to a shut-off domain's definition sends no device
    # event; a start or stop brings in or ends hot-plugged disks.
    received = []
    conn = FakeConnection()
    events.DomainEvents(received.append).register(conn)
    conn.fire(libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, UUID_A, lifecycle)
    assert received == [driver.ServerEvent(UUID_A, driver.EVENT_STATE),
                        driver.ServerEvent(UUID_A, driver.EVENT_VOLUMES)]


def test_a_failing_listener_is_logged_and_never_reaches_the_event_loop(caplog):
    calls = []

    def listener(event):
        calls.append(event)
        raise RuntimeError("the manager's queue is broken")

    conn = FakeConnection()
    events.DomainEvents(listener).register(conn)
    conn.fire(libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, UUID_A)  # must not raise
    conn.fire(libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, UUID_B)
    assert [e.hypervisor_ref for e in calls] == [UUID_A, UUID_B]
    assert "The listener of domain events failed" in caplog.text
    assert "the manager's queue is broken" in caplog.text


def test_a_callback_libvirt_refuses_is_logged_and_the_others_registered(caplog):
    conn = FakeConnection(refuse={libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED})
    events.DomainEvents(lambda e: None).register(conn)
    assert {event_id for event_id, _cb in conn.callbacks.values()} == (
        CALLBACK_IDS - {libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED})
    assert "Cannot register for libvirt's domain events" in caplog.text


def test_deregistering_removes_every_callback_and_tolerates_a_lost_connection():
    conn = FakeConnection()
    domain_events = events.DomainEvents(lambda e: None)
    domain_events.register(conn)
    domain_events.deregister()
    assert conn.callbacks == {} and sorted(conn.deregistered) == sorted(CALLBACK_IDS)

    lost = FakeConnection()
    domain_events.register(lost)
    lost.alive = False
    domain_events.deregister()  # libvirt cannot be told; nothing raised
    domain_events.deregister()  # and nothing left to deregister
    assert len(lost.callbacks) == 3


@pytest.fixture
def opened(monkeypatch):
    """Host's connections, each a FakeConnection listing both domains."""
    connections = []

    def fake_open(uri):
        connections.append(FakeConnection(uuids=(UUID_A, UUID_B)))
        return connections[-1]

    monkeypatch.setattr(events, "start", lambda: True)
    monkeypatch.setattr(libvirt, "open", fake_open)
    return connections


def test_every_connection_the_host_opens_gets_the_callbacks_again(opened):
    received = []
    host = host_mod.Host(on_event=received.append)
    first = host.connection()
    assert len(first.callbacks) == 3 and received == []  # a first connection

    first.alive = False  # libvirtd restarted
    second = host.connection()
    assert second is not first and first.closed
    assert len(second.callbacks) == 3
    # What changed while libvirtd was away reached no callback.
    assert received == [driver.ServerEvent(u, k) for u in (UUID_A, UUID_B)
                        for k in (driver.EVENT_STATE, driver.EVENT_VOLUMES)]

    received.clear()
    second.fire(libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, UUID_A)
    first.fire(libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, UUID_B)  # forgotten
    assert received == [driver.ServerEvent(UUID_A, driver.EVENT_STATE)]


def test_closing_the_host_deregisters_before_it_closes(opened):
    host = host_mod.Host(on_event=lambda e: None)
    conn = host.connection()
    host.close()
    assert conn.callbacks == {} and conn.closed
    assert sorted(conn.deregistered) == sorted(CALLBACK_IDS)


def test_a_host_without_a_listener_registers_nothing(opened):
    host = host_mod.Host()
    first = host.connection()
    first.alive = False
    second = host.connection()
    assert first.callbacks == {} and second.callbacks == {}

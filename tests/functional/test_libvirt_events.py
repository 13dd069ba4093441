"""The libvirt driver's domain events against the real libvirtd: what is done
to a domain from outside nativesnap (started, destroyed, a volume disk
hot-plugged and unplugged, or written into a shut-off domain's definition)
reaches the driver's listener as ServerEvents
keyed by the domain's UUID, after which the driver reads the new state and
volumes; the callbacks come back on the connection the driver opens after a
restart of libvirtd, go away when the driver closes, and survive a listener
that fails.

The domain is the cheapest one libvirt runs: 64 MiB, no boot disk, only a
virtio-scsi controller, whose disks QEMU unplugs without the guest's help.
The restart uses a libvirtd of the test's own (``private_libvirtd.py``): the
machine's libvirtd serves other tests at the same time.
"""

import queue
import subprocess
import time
import types
import uuid

import libvirt
import pytest

from nativesnap.common import states
from nativesnap.conf import CONF
from nativesnap.virt import driver
from nativesnap.virt.libvirt import driver as libvirt_driver
from nativesnap.virt.libvirt import events
from tests.functional import private_libvirtd

SYSTEM_URI = "qemu:///system"
EVENT_TIMEOUT = 30  # seconds for an event to reach the listener
QUIET_SECONDS = 1.5  # how long "no event" is watched for

DOMAIN_XML = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='scsi' model='virtio-scsi'/>
  </devices>
</domain>"""

# As Nova attaches a Cinder volume: the serial is the volume id.
VOLUME_DISK_XML = """<disk type='file' device='disk'>
  <driver name='qemu' type='qcow2'/><source file='{path}'/>
  <target dev='sda' bus='scsi'/><serial>{volume_id}</serial>
</disk>"""


class Listener:
    """The manager's side: every ServerEvent the driver emits, queued."""

    def __init__(self, fail_first=0):
        self.events = queue.Queue()
        self.failures_left = fail_first

    def __call__(self, event):
        self.events.put(event)
        if self.failures_left:
            self.failures_left -= 1
            raise RuntimeError("a listener that fails (test)")

    def wait_for(self, ref, kind, timeout=EVENT_TIMEOUT):
        """The first event of ``kind`` for ``ref``, waited for at most
        ``timeout`` s; events before it are passed over."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                event = self.events.get(timeout=max(0.0, left))
            except queue.Empty:
                raise AssertionError(f"no {kind} event for {ref} within "
                                     f"{timeout} s") from None
            if event == driver.ServerEvent(hypervisor_ref=ref, kind=kind):
                return event

    def drain(self, settle=0.3):
        """Forget what came so far (and within ``settle`` s)."""
        time.sleep(settle)
        taken = []
        while True:
            try:
                taken.append(self.events.get_nowait())
            except queue.Empty:
                return taken


# --- fixtures --------------------------------------------------------------------


def _open(uri):
    # The loop first: a connection gets events only from the event
    # implementation registered when it was opened (events.py).
    events.start()
    return libvirt.open(uri)


def _define(conn):
    return conn.defineXML(DOMAIN_XML.format(
        name=f"nativesnap-test-events-{uuid.uuid4()}"))


def _remove(dom):
    try:
        if dom.isActive():
            dom.destroy()
        dom.undefine()
    except libvirt.libvirtError:
        pass


@pytest.fixture(scope="module")
def conn():
    """The test's own connection to the machine's libvirtd ("outside")."""
    connection = _open(SYSTEM_URI)
    yield connection
    connection.close()


@pytest.fixture
def domain(conn):
    dom = _define(conn)
    yield dom
    _remove(dom)


@pytest.fixture
def make_driver(tmp_path):
    """make_driver(uri, listener): a LibvirtDriver on ``uri``, started as the
    service starts it, its listener registered; closed afterwards."""
    started = []

    def make(uri, listener):
        CONF.set_override("uri", uri, group="libvirt")
        CONF.set_override("overlay_path", str(tmp_path / "overlays"),
                          group="libvirt")
        drv = libvirt_driver.LibvirtDriver()
        drv.register_event_listener(listener)
        drv.init_host("test-host")
        started.append(drv)
        return drv

    yield make
    for drv in started:
        drv.cleanup_host()
    CONF.clear_override("uri", group="libvirt")
    CONF.clear_override("overlay_path", group="libvirt")


@pytest.fixture
def own_libvirtd():
    daemon = private_libvirtd.PrivateLibvirtd().start()
    yield daemon
    daemon.cleanup()


def _server(dom):
    return types.SimpleNamespace(id=str(uuid.uuid4()),
                                 hypervisor_ref=dom.UUIDString(),
                                 driver_info={}, status=None)


def _volume_file(tmp_path):
    path = tmp_path / "volume.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "16M"],
                   check=True, capture_output=True, timeout=60)
    return str(path)


def _wait_for_stopped(seen, timeout=EVENT_TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        try:
            event = seen.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"libvirt sent no STOPPED event within "
                                 f"{timeout} s") from None
        if event == libvirt.VIR_DOMAIN_EVENT_STOPPED:
            return


# --- tests -----------------------------------------------------------------------


def test_a_domain_started_and_destroyed_from_outside_emits_state_events(
        make_driver, domain):
    listener = Listener()
    drv = make_driver(SYSTEM_URI, listener)
    server, ref = _server(domain), domain.UUIDString()

    domain.create()
    listener.wait_for(ref, driver.EVENT_STATE)
    assert drv.get_server_state(None, server) == states.ACTIVE

    domain.destroy()
    listener.wait_for(ref, driver.EVENT_STATE)
    assert drv.get_server_state(None, server) == states.SHUTOFF


def test_a_volume_attached_and_detached_emits_volume_events_and_is_listed_between(
        make_driver, domain, tmp_path):
    listener = Listener()
    drv = make_driver(SYSTEM_URI, listener)
    assisted = drv.interface(driver.VOLUME_SNAPSHOT, "attached_volumes")
    server, ref = _server(domain), domain.UUIDString()
    volume_id = str(uuid.uuid4())
    disk = VOLUME_DISK_XML.format(path=_volume_file(tmp_path),
                                  volume_id=volume_id)
    domain.create()
    listener.wait_for(ref, driver.EVENT_STATE)
    assert assisted.attached_volumes(None, server) == []

    domain.attachDeviceFlags(disk, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    listener.wait_for(ref, driver.EVENT_VOLUMES)
    assert assisted.attached_volumes(None, server) == [
        driver.VolumeAttachment(volume_id=volume_id, device="sda")]

    domain.detachDeviceFlags(disk, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    listener.wait_for(ref, driver.EVENT_VOLUMES)
    assert assisted.attached_volumes(None, server) == []


def test_a_volume_written_into_a_shut_off_domain_s_definition_emits_volume_events(
        make_driver, conn, domain, tmp_path):
    # As `virsh edit` does it: nothing is hot-plugged, so no device event;
    # the definition changes (DEFINED). libvirt 9.0 sends no event at all
    # for attachDeviceFlags(AFFECT_CONFIG): that shows at the periodic sync.
    listener = Listener()
    drv = make_driver(SYSTEM_URI, listener)
    assisted = drv.interface(driver.VOLUME_SNAPSHOT, "attached_volumes")
    server, ref = _server(domain), domain.UUIDString()
    volume_id = str(uuid.uuid4())
    disk = VOLUME_DISK_XML.format(path=_volume_file(tmp_path),
                                  volume_id=volume_id)
    without = domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)

    conn.defineXML(without.replace("</devices>", disk + "</devices>"))
    listener.wait_for(ref, driver.EVENT_VOLUMES)
    assert assisted.attached_volumes(None, server) == [
        driver.VolumeAttachment(volume_id=volume_id, device="sda")]

    conn.defineXML(without)
    listener.wait_for(ref, driver.EVENT_VOLUMES)
    assert assisted.attached_volumes(None, server) == []


def test_events_arrive_on_the_connection_reopened_after_libvirtd_restarts(
        make_driver, own_libvirtd):
    listener = Listener()
    drv = make_driver(own_libvirtd.uri, listener)
    outside = _open(own_libvirtd.uri)
    dom = _define(outside)
    server, ref = _server(dom), dom.UUIDString()
    try:
        outside.close()
        own_libvirtd.restart()  # the driver's connection is lost with it
        outside = _open(own_libvirtd.uri)
        dom = outside.lookupByUUIDString(ref)
        listener.drain()

        # The driver reconnects at its next call (here the manager's
        # periodic sync) and announces every domain: what changed while
        # libvirtd was away reached no callback.
        assert drv.get_server_state(None, server) == states.SHUTOFF
        listener.wait_for(ref, driver.EVENT_STATE)
        listener.wait_for(ref, driver.EVENT_VOLUMES)

        dom.create()
        listener.wait_for(ref, driver.EVENT_STATE)
        assert drv.get_server_state(None, server) == states.ACTIVE
        dom.destroy()
        listener.wait_for(ref, driver.EVENT_STATE)
        assert drv.get_server_state(None, server) == states.SHUTOFF
    finally:
        _remove(dom)
        outside.close()


def test_a_closed_driver_emits_nothing_more(make_driver, conn, domain):
    listener = Listener()
    drv = make_driver(SYSTEM_URI, listener)
    ref = domain.UUIDString()
    domain.create()
    listener.wait_for(ref, driver.EVENT_STATE)  # registered until now

    drv.cleanup_host()
    listener.drain()
    # Another client's callback shows when libvirt has sent the event.
    seen = queue.Queue()
    callback_id = conn.domainEventRegisterAny(
        domain, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
        lambda _c, _d, event, _detail, _o: seen.put(event), None)
    try:
        domain.destroy()
        _wait_for_stopped(seen)
    finally:
        conn.domainEventDeregisterAny(callback_id)
    assert listener.drain(settle=QUIET_SECONDS) == []


def test_a_listener_that_fails_does_not_stop_later_events(make_driver, domain):
    listener = Listener(fail_first=1)
    make_driver(SYSTEM_URI, listener)
    ref = domain.UUIDString()

    domain.create()
    listener.wait_for(ref, driver.EVENT_STATE)  # the listener raised on it
    listener.drain()
    assert listener.failures_left == 0
    domain.destroy()
    listener.wait_for(ref, driver.EVENT_STATE)
    assert events.running()  # libvirt's event loop goes on

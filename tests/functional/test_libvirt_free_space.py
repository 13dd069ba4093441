"""The libvirt driver's free space (the storage guard's input) against the real
libvirtd: a server with qcow2 disks reports the filesystem of its overlay
directory, as ``os.statvfs`` reads it, and not that of its disks; a real
external snapshot then writes its overlay into that directory, and the
free space reported shrinks; a domain that is gone reports nothing.

``[libvirt] overlay_path`` is on a small filesystem of the test's own (a
64 MiB loop-mounted ext4, as test_libvirt_faults.py makes), so nothing but
the test writes to it and its figures are the test's to know. The domain
is defined, never started: the storage guard reads its definition only,
and libvirt snapshots a shut-off domain's disks as a running one's.
"""

import os
import subprocess
import types
import uuid

import libvirt
import pytest

from nativesnap.common import states
from nativesnap.conf import CONF
from nativesnap.virt.libvirt import driver as libvirt_driver
from nativesnap.virt.libvirt import xml as lxml_xml
from tests.functional import libvirt_helpers as lh

SYSTEM_URI = "qemu:///system"
MIB = 1024 * 1024

DOMAIN_XML = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/><source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>"""


@pytest.fixture
def small_filesystem(tmp_path):
    """A 64 MiB ext4 filesystem, loop-mounted; unmounted afterwards."""
    with lh.small_filesystem(tmp_path) as mountpoint:
        yield mountpoint


@pytest.fixture
def drv(small_filesystem):
    """A LibvirtDriver on qemu:///system, its overlays on the small
    filesystem, started as the service starts it; closed afterwards."""
    CONF.set_override("uri", SYSTEM_URI, group="libvirt")
    CONF.set_override("overlay_path", os.path.join(small_filesystem, "overlays"),
                      group="libvirt")
    started = libvirt_driver.LibvirtDriver()
    try:
        started.init_host("test-host")
        yield started
    finally:
        started.cleanup_host()
        CONF.clear_override("uri", group="libvirt")
        CONF.clear_override("overlay_path", group="libvirt")


@pytest.fixture
def domain(drv, tmp_path):
    """A shut-off domain with one qcow2 disk in the test's directory (not on
    the small filesystem); undefined afterwards, before the unmount."""
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"],
                   check=True, capture_output=True, timeout=60)
    conn = libvirt.open(SYSTEM_URI)
    dom = conn.defineXML(DOMAIN_XML.format(
        name=f"nativesnap-test-free-space-{uuid.uuid4()}", disk=disk))
    yield dom
    try:
        if dom.isActive():
            dom.destroy()
        dom.undefine()
    except libvirt.libvirtError:
        pass
    conn.close()


def _server(dom, driver_info=None):
    return types.SimpleNamespace(id=str(uuid.uuid4()),
                                 hypervisor_ref=dom.UUIDString(),
                                 driver_info=driver_info or {}, task_id=None)


def _statvfs(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize


def test_qcow2_disks_report_their_overlay_directory_s_filesystem(
        drv, domain, small_filesystem, tmp_path):
    overlays = os.path.join(small_filesystem, "overlays")
    with open(os.path.join(small_filesystem, "ballast"), "wb") as f:
        f.write(os.urandom(16 * MIB))
        os.fsync(f.fileno())
    server = _server(domain)

    space = drv.free_space(None, server)

    directory = os.path.join(overlays, server.id)
    assert space.where == f"libvirt overlay directory {directory}"
    # The server's directory is made by its first snapshot: read where it
    # will be, on the filesystem of overlay_path; nothing else writes there.
    assert not os.path.exists(directory)
    assert (space.free_bytes, space.total_bytes) == _statvfs(overlays)
    assert 60 < space.percent_free < 75  # ≈ 55 MiB usable, 16 written
    # Not the filesystem of the disk (whose frozen file takes no writes).
    assert space.total_bytes != _statvfs(tmp_path)[1]


def test_a_snapshot_s_overlay_lands_where_the_free_space_was_read(
        drv, domain, tmp_path):
    server = _server(domain)
    before = drv.free_space(None, server)
    snapshot = types.SimpleNamespace(
        id=str(uuid.uuid4()), name="guarded", description=None,
        kind=states.KIND_EXTERNAL, memory=False, quiesce=states.QUIESCE_OFF,
        include_volumes=False, volumes=[])

    result = drv.create_snapshot(None, server, snapshot, lambda percent: None)

    (disk,) = [d for d in lxml_xml.disks(domain.XMLDesc(0))
               if d.device == "disk"]
    directory = before.where.removeprefix("libvirt overlay directory ")
    assert os.path.dirname(disk.source) == directory
    # The disk's own file is frozen where it is: only the overlay is new.
    assert result.server_driver_info["snapshots"][snapshot.id]["disks"] == {
        "vda": str(tmp_path / "disk.qcow2")}
    after = drv.free_space(None, types.SimpleNamespace(
        id=server.id, hypervisor_ref=server.hypervisor_ref,
        driver_info=result.server_driver_info))
    assert after.where == before.where
    assert (after.free_bytes, after.total_bytes) == _statvfs(directory)
    assert after.free_bytes < before.free_bytes  # the overlay's blocks


def test_a_domain_that_is_gone_reports_nothing(drv):
    server = types.SimpleNamespace(id=str(uuid.uuid4()),
                                   hypervisor_ref=str(uuid.uuid4()),
                                   driver_info={})
    assert drv.free_space(None, server) is None

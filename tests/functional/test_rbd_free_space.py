"""The free space of RBD disks (the storage guard's input) against the real
one-node Ceph cluster (``tests/ceph_fixtures.py``): the pools' figures are
what ``ceph df detail`` gives client.nativesnap (its ``profile rbd`` caps
suffice), read within ``[rbd] connect_timeout``; an image's snapshots land
in its data pool; and the libvirt driver reports, for a domain with an RBD
disk and a qcow2 disk, the tightest of the pool and the overlay directory.

The test cluster has no manager daemon (tools/start-ceph), and the monitor
has its pool figures from the manager: here it reports none, so an RBD
disk's pool is "cannot tell" and the qcow2 disk's directory is what is
reported. The assertions hold on a cluster with a manager as well: they
compare with what the monitor says, whatever it says.
"""

import json
import os
import subprocess
import time
import types
import uuid

import libvirt
import pytest
import rbd

from nativesnap.conf import CONF
from nativesnap.virt import driver
from nativesnap.virt.libvirt import ceph as ceph_calls
from tests.functional import rbd_helpers
from nativesnap.virt.libvirt import driver as libvirt_driver
from nativesnap.virt.libvirt import storage

pytest_plugins = ["tests.ceph_fixtures"]

SYSTEM_URI = "qemu:///system"
MIB = 1024 * 1024
TIMEOUT = 5  # [rbd] connect_timeout of the tests

DOMAIN_XML = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    {disks}
  </devices>
</domain>"""
QCOW2_DISK = """<disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/><source file='{path}'/>
      <target dev='vdb' bus='virtio'/>
    </disk>"""


@pytest.fixture
def cluster(ceph):
    client = ceph_calls.Cluster(rbd_helpers.rbd_options(ceph.conf_path))
    yield client
    client.close()


@pytest.fixture
def image(ceph):
    name = f"free-space-{uuid.uuid4()}"
    ceph.create_image("vms", name, 16 * MIB)
    yield name
    ceph.remove_image("vms", name)


def _monitor_df(ceph):
    """``ceph df detail`` as the admin reads it."""
    with ceph.rados("admin") as admin:
        ret, out, status = admin.mon_command(json.dumps(
            {"prefix": "df", "detail": "detail", "format": "json"}), b"")
    assert ret == 0, status
    return json.loads(out)


def _expected_space(ceph):
    """{pool: (free, total)} from the admin's df: free what may still be
    written (no quota is set on the test pools), total that and what is
    stored; pools without figures left out."""
    expected = {}
    for pool in _monitor_df(ceph)["pools"]:
        stats = pool["stats"]
        assert not stats.get("quota_bytes"), pool
        if stats["stored"] + stats["max_avail"] > 0:
            expected[pool["name"]] = (stats["max_avail"],
                                      stats["stored"] + stats["max_avail"])
    return expected


def _near(a, b):
    """The same figures, but for what other writers changed in between."""
    return (a is None) == (b is None) and (a is None or all(
        abs(x - y) <= 64 * MIB for x, y in zip(a, b)))


def test_the_pools_figures_are_what_the_monitor_says(ceph, cluster):
    started = time.monotonic()
    space = cluster.pool_space()
    assert time.monotonic() - started < TIMEOUT
    expected = _expected_space(ceph)
    assert sorted(space) == sorted(expected)
    assert all(_near(space[pool], expected[pool]) for pool in space)


def test_an_image_s_snapshots_land_in_its_data_pool(ceph, cluster, image):
    assert cluster.data_pool("vms", image) == "vms"
    assert cluster.data_pool("vms", f"gone-{uuid.uuid4()}") == "vms"
    name = f"free-space-data-{uuid.uuid4()}"
    with ceph.ioctx("vms", user="admin") as ioctx:
        rbd.RBD().create(ioctx, name, 16 * MIB, old_format=False,
                         data_pool="images")
    try:
        assert cluster.data_pool("vms", name) == "images"
    finally:
        ceph.remove_image("vms", name)


# --- the libvirt driver -----------------------------------------------------------


@pytest.fixture
def drv(ceph, tmp_path):
    """A LibvirtDriver on qemu:///system and the test cluster; closed
    afterwards."""
    overrides = {("libvirt", "uri"): SYSTEM_URI,
                 ("libvirt", "overlay_path"): str(tmp_path / "overlays"),
                 ("rbd", "ceph_conf"): ceph.conf_path,
                 ("rbd", "rbd_user"): "nativesnap",
                 ("rbd", "connect_timeout"): TIMEOUT}
    for (group, name), value in overrides.items():
        CONF.set_override(name, value, group=group)
    started = libvirt_driver.LibvirtDriver()
    try:
        started.init_host("test-host")
        yield started
    finally:
        started.cleanup_host()
        for group, name in overrides:
            CONF.clear_override(name, group=group)


@pytest.fixture
def define(ceph, tmp_path):
    """define(with_qcow2) -> a shut-off domain with an RBD disk (vms/image)
    and, if asked, a qcow2 disk; undefined afterwards."""
    conn = libvirt.open(SYSTEM_URI)
    secret = ceph.libvirt_secret(conn)
    domains = []

    def make(image, with_qcow2):
        disks = ceph.rbd_disk_xml("vms", image, "nativesnap", secret, "vda")
        if with_qcow2:
            path = tmp_path / f"disk-{uuid.uuid4()}.qcow2"
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path),
                            "16M"], check=True, capture_output=True, timeout=60)
            disks += QCOW2_DISK.format(path=path)
        dom = conn.defineXML(DOMAIN_XML.format(
            name=f"nativesnap-test-free-space-{uuid.uuid4()}", disks=disks))
        domains.append(dom)
        return types.SimpleNamespace(id=str(uuid.uuid4()),
                                     hypervisor_ref=dom.UUIDString(),
                                     driver_info={})

    yield make
    for dom in domains:
        try:
            dom.undefine()
        except libvirt.libvirtError:
            pass
    conn.close()


def _pool(ceph):
    figures = _expected_space(ceph).get("vms")
    return figures and driver.FreeSpace(*figures, where="Ceph pool vms")


def test_a_domain_s_rbd_disk_reports_its_pool(ceph, drv, define, image):
    server = define(image, with_qcow2=False)
    space = drv.free_space(None, server)
    expected = _pool(ceph)  # None here: the monitor has no figures
    assert _near(space and (space.free_bytes, space.total_bytes),
                 expected and (expected.free_bytes, expected.total_bytes))
    assert space is None or space.where == "Ceph pool vms"


def test_rbd_and_qcow2_disks_report_the_tightest_place(ceph, drv, define,
                                                       image, tmp_path):
    server = define(image, with_qcow2=True)

    space = drv.free_space(None, server)

    overlays = storage.filesystem_space(
        str(tmp_path / "overlays" / server.id),
        f"libvirt overlay directory {tmp_path / 'overlays' / server.id}")
    expected = driver.tightest([_pool(ceph), overlays])
    assert space.where == expected.where
    if space.where.startswith("libvirt"):  # here: the pool tells nothing
        st = os.statvfs(tmp_path / "overlays")
        assert space.total_bytes == st.f_blocks * st.f_frsize
        # Other tests write to this filesystem meanwhile.
        assert abs(space.free_bytes - st.f_bavail * st.f_frsize) < 256 * MIB
    else:
        assert _near((space.free_bytes, space.total_bytes),
                     (expected.free_bytes, expected.total_bytes))

"""The one-node Ceph cluster the RBD tests stand on (tools/start-ceph,
tests/ceph_fixtures.py), checked against the real thing: the cluster is what
the script promises, librbd writes and reads images, a snapshot clones as
format 2 without protection, the read-only user of ``images`` clones into
``vms`` only, QEMU's rbd driver reads and writes images with the conf and a
keyring, and a TCG guest boots with an RBD disk (cephx through a libvirt
secret), reads what librbd wrote and writes what librbd reads; a clone
hot-plugged into it as the read-only user does the same."""

import hashlib
import json
import os
import subprocess
import time
import uuid

import libvirt
import pytest
import rbd

from tests import fixtures
from tests.functional import rbd_helpers

pytest_plugins = ["tests.ceph_fixtures", "tests.functional.guest_fixtures"]

MIB = 1024 * 1024
START_CEPH = os.path.join(fixtures.REPO, "tools", "start-ceph")
RO_USER = "nativesnap-ro-images"


def _name(prefix="rbdtest"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def rbd_images(ceph):
    """``make(pool, size, prefix)`` -> name of a new image; every image made
    (and everything cloned from it) is removed after the test. Request it
    before ``make_guest``: it is then torn down after the guest is gone."""
    made = []

    def make(pool, size=16 * MIB, prefix="rbdtest"):
        name = _name(prefix)
        ceph.create_image(pool, name, size)
        made.append((pool, name))
        return name

    make.track = lambda pool, name: made.append((pool, name))
    yield make
    for pool, name in reversed(made):
        ceph.remove_image(pool, name)


def _mon_json(ceph, command, **args):
    with ceph.rados("admin") as cluster:
        ret, out, err = cluster.mon_command(
            json.dumps({"prefix": command, "format": "json", **args}), b"", timeout=30)
    assert ret == 0, f"{command}: {ret} {err}"
    return json.loads(out)


def test_the_cluster_is_what_tools_start_ceph_promises(ceph):
    assert os.path.isfile(ceph.conf_path)
    assert ceph.mon_host == f"127.0.0.1:{ceph.mon_port}"
    with ceph.rados() as cluster:
        assert cluster.get_fsid() == ceph.fsid
        assert {"vms", "images"} <= set(cluster.list_pools())
    dump = _mon_json(ceph, "osd dump")
    assert dump["require_min_compat_client"] == "mimic"
    assert [(o["osd"], o["up"], o["in"]) for o in dump["osds"]] == [(0, 1, 1)]
    pools = {p["pool_name"]: p for p in dump["pools"]}
    for pool in ceph.pools:
        assert pools[pool]["size"] == 1
        assert "rbd" in pools[pool]["application_metadata"]
    caps = {e["entity"]: e["caps"] for e in _mon_json(ceph, "auth ls")["auth_dump"]}
    assert caps["client.nativesnap"] == {
        "mon": "profile rbd", "osd": "profile rbd pool=vms, profile rbd pool=images"}
    assert caps[f"client.{RO_USER}"] == {
        "mon": "profile rbd",
        "osd": "profile rbd pool=vms, profile rbd-read-only pool=images"}
    for user in ceph.users.values():
        assert oct(os.stat(user.keyring).st_mode & 0o777) == "0o600"


def test_tools_start_ceph_leaves_a_running_cluster_alone_and_prints_the_same_conf(ceph):
    began = time.monotonic()
    out = subprocess.run([START_CEPH], check=False, capture_output=True, text=True,
                         timeout=120)
    elapsed = time.monotonic() - began
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [ceph.conf_path]
    assert "already running" in out.stderr
    assert "creating" not in out.stderr and "starting" not in out.stderr
    assert elapsed < 10, f"a warm tools/start-ceph took {elapsed:.1f} s"
    ceph.check()


def test_an_image_written_through_librbd_reads_back_the_same(ceph, rbd_images):
    name = rbd_images("vms", 64 * MIB)
    data = os.urandom(MIB + 4097)
    offset = 5 * MIB + 512 + 3      # not aligned to anything
    # As the service's user, with librbd directly.
    with ceph.ioctx("vms") as ioctx, rbd.Image(ioctx, name) as image:
        assert image.write(data, offset) == len(data)
        image.flush()
    # Read back on another connection (the admin's): the bytes are on the OSD.
    assert ceph.read("vms", name, offset, len(data)) == data
    assert ceph.read("vms", name, 0, 4096) == bytes(4096)       # never written
    info = ceph.image_info("vms", name)
    assert info.size == 64 * MIB
    assert info.parent is None and info.clone_format is None and info.snapshots == ()
    assert info.features & rbd.RBD_FEATURE_LAYERING


def test_a_snapshot_clones_as_format_2_without_protection(ceph, rbd_images):
    parent = rbd_images("images", 32 * MIB, prefix="base")
    base = os.urandom(2 * MIB)
    ceph.write("images", parent, 0, base)
    with ceph.ioctx("images") as ioctx, rbd.Image(ioctx, parent) as image:
        image.create_snap("snap")
        assert not image.is_protected_snap("snap")
    child = _name("clone")
    with ceph.ioctx("images") as p_ioctx, ceph.ioctx("vms") as c_ioctx:
        rbd.RBD().clone(p_ioctx, parent, "snap", c_ioctx, child)
    rbd_images.track("vms", child)

    info = ceph.image_info("vms", child)
    assert (info.parent.pool, info.parent.image, info.parent.snap) == ("images", parent, "snap")
    assert info.clone_format == 2
    assert info.op_features & rbd.RBD_OPERATION_FEATURE_CLONE_CHILD
    parent_info = ceph.image_info("images", parent)
    assert parent_info.op_features & rbd.RBD_OPERATION_FEATURE_CLONE_PARENT
    snap = parent_info.snapshot("snap")
    assert not snap.protected
    assert snap.children == (f"vms/{child}",)

    # Copy-on-write: the clone reads the parent's data; its writes stay its own.
    assert ceph.read("vms", child, 0, len(base)) == base
    ceph.write("vms", child, MIB, b"\xa5" * 4096)
    assert ceph.read("vms", child, MIB, 4096) == b"\xa5" * 4096
    assert ceph.read("images", parent, MIB, 4096) == base[MIB:MIB + 4096]
    assert ceph.read("images", parent, MIB, 4096, snapshot="snap") == base[MIB:MIB + 4096]

    # Removing the parent flattens the clone first when asked to keep it.
    assert ceph.remove_image("images", parent, children="flatten") is True
    assert not ceph.image_exists("images", parent)
    flat = ceph.image_info("vms", child)
    assert flat.parent is None
    assert ceph.read("vms", child, 0, MIB) == base[:MIB]
    assert ceph.read("vms", child, MIB, 4096) == b"\xa5" * 4096
    assert ceph.remove_image("images", parent) is False


def test_the_read_only_images_user_clones_into_vms_but_not_into_images(ceph, rbd_images):
    parent = rbd_images("images", 8 * MIB, prefix="base")
    ceph.write("images", parent, 0, b"glance image" * 100)
    with ceph.ioctx("images") as ioctx, rbd.Image(ioctx, parent) as image:
        image.create_snap("snap")

    with ceph.ioctx("images", user=RO_USER) as p_ioctx:
        # It reads the images pool ...
        with rbd.Image(p_ioctx, parent, snapshot="snap", read_only=True) as image:
            assert image.read(0, 12) == b"glance image"
        # ... but cannot make an image there: the trigger of a full-copy fallback.
        refused = _name("clone")
        with pytest.raises(rbd.PermissionError):
            rbd.RBD().clone(p_ioctx, parent, "snap", p_ioctx, refused)
        # Nor open one for writing (librbd's header watch is a write).
        with pytest.raises(rbd.PermissionError):
            rbd.Image(p_ioctx, parent).close()
        # Into vms, the clone works (child_attach on the parent's header is
        # what its rbd-read-only profile allows in images).
        child = _name("clone")
        with ceph.ioctx("vms", user=RO_USER) as c_ioctx:
            rbd.RBD().clone(p_ioctx, parent, "snap", c_ioctx, child)
    rbd_images.track("vms", child)
    info = ceph.image_info("vms", child)
    assert (info.parent.pool, info.parent.image, info.parent.snap) == ("images", parent, "snap")
    assert info.clone_format == 2
    assert ceph.read("vms", child, 0, 12, user=RO_USER) == b"glance image"
    # The refused clone left nothing in images.
    assert not ceph.image_exists("images", refused)


def test_qemu_img_reads_and_writes_rbd_images(ceph, rbd_images, tmp_path):
    size = 8 * MIB
    name = rbd_images("vms", size)
    data = os.urandom(MIB)
    ceph.write("vms", name, 3 * MIB, data)
    expected = bytes(3 * MIB) + data + bytes(size - 4 * MIB)

    info = subprocess.run(["qemu-img", "info", "--output=json", ceph.qemu_path("vms", name)],
                          check=False, capture_output=True, text=True, timeout=60)
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["virtual-size"] == size

    local = tmp_path / "export.raw"
    out = subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "raw",
                          ceph.qemu_path("vms", name), str(local)],
                         check=False, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert _sha256(local.read_bytes()) == _sha256(expected)

    # And the other way: a qcow2 file imported into a new image of vms.
    qcow2 = tmp_path / "import.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(local), str(qcow2)],
                   check=True, capture_output=True, timeout=120)
    imported = _name("import")
    rbd_images.track("vms", imported)
    out = subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(qcow2),
                          ceph.qemu_path("vms", imported)],
                         check=False, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert ceph.image_info("vms", imported).size == size
    assert _sha256(ceph.read("vms", imported, 0, size)) == _sha256(expected)


# --- a guest with RBD disks ------------------------------------------------------------

def test_a_tcg_guest_boots_with_an_rbd_disk_and_takes_a_hot_plugged_clone(
        ceph, rbd_images, libvirt_conn, make_guest):
    # vdb: an image of vms, attached at boot as client.nativesnap.
    disk = rbd_images("vms", 32 * MIB, prefix="disk")
    host_data = os.urandom(2 * MIB)
    ceph.write("vms", disk, 4 * MIB, host_data)
    secret = ceph.libvirt_secret(libvirt_conn, "nativesnap")
    assert ceph.libvirt_secret(libvirt_conn, "nativesnap") == secret   # idempotent
    guest = make_guest(disks=1, boot=False)
    disk_xml = ceph.rbd_disk_xml("vms", disk, "nativesnap", secret, "vdb",
                                 serial="rbd-boot-disk")
    # tests/guest.py defines file disks only: the RBD disk goes in beside them.
    rbd_helpers.define_with_rbd_disk(libvirt_conn, guest, disk_xml)
    guest.start(timeout=90)
    live = guest.domain.XMLDesc(0)
    assert f"name='vms/{disk}'" in live and f"uuid='{secret}'" in live

    dev = rbd_helpers.device(guest, "rbd-boot-disk")
    size = int(guest.run(["cat", f"/sys/block/{dev}/size"]))
    assert size * 512 == 32 * MIB
    # What librbd wrote, the guest reads; what the guest writes, librbd reads.
    assert rbd_helpers.read_sha256(guest, dev, 4, 2) == _sha256(host_data)
    written = rbd_helpers.write_random(guest, dev, 16, 1)
    assert _sha256(ceph.read("vms", disk, 16 * MIB, MIB)) == written

    # vdc: a format 2 clone of an image of the images pool, hot-plugged as the
    # read-only user of images (the way Nova boots from a Glance image on RBD).
    base = rbd_images("images", 16 * MIB, prefix="base")
    base_data = os.urandom(MIB)
    ceph.write("images", base, 0, base_data)
    with ceph.ioctx("images") as ioctx, rbd.Image(ioctx, base) as image:
        image.create_snap("snap")
    clone = _name("clone")
    with ceph.ioctx("images", user=RO_USER) as p_ioctx, \
            ceph.ioctx("vms", user=RO_USER) as c_ioctx:
        rbd.RBD().clone(p_ioctx, base, "snap", c_ioctx, clone)
    rbd_images.track("vms", clone)
    ro_secret = ceph.libvirt_secret(libvirt_conn, RO_USER)
    assert ro_secret != secret
    guest.domain.attachDeviceFlags(
        ceph.rbd_disk_xml("vms", clone, RO_USER, ro_secret, "vdc", serial="rbd-clone"),
        libvirt.VIR_DOMAIN_AFFECT_LIVE)
    clone_dev = rbd_helpers.device(guest, "rbd-clone")
    assert rbd_helpers.read_sha256(guest, clone_dev, 0, 1) == _sha256(base_data)
    written = rbd_helpers.write_random(guest, clone_dev, 8, 1)
    assert _sha256(ceph.read("vms", clone, 8 * MIB, MIB)) == written
    # The clone's writes are its own: the parent snapshot is untouched.
    assert ceph.read("images", base, 8 * MIB, MIB, snapshot="snap") == bytes(MIB)

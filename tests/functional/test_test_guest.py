"""The test guest and its fixtures, against the real libvirtd (TCG): it boots,
its agent answers, data written inside it checksums the same inside it, every
data disk is mounted, fsfreeze works, RAM-only markers live on tmpfs, and
teardown removes everything even after a snapshot added overlays."""

import hashlib
import os
import time

import libvirt
import pytest

from tests import guest as guestlib

pytest_plugins = ["tests.functional.guest_fixtures"]

BOOT_BUDGET_S = 60


@pytest.fixture(scope="module")
def three_disk_guest(make_module_guest):
    """One 3-disk guest shared by this module's tests (a boot is ≈ 4-6 s)."""
    return make_module_guest(disks=3)


def test_build_test_guest_is_cached_and_a_rerun_is_fast(guest_images):
    for path in (guest_images.kernel, guest_images.initrd, guest_images.disk_template):
        assert os.path.getsize(path) > 0, path
    assert guest_images.kernel_version.endswith("-cloud-amd64")
    began = time.monotonic()
    guestlib._built.clear()
    again = guestlib.build_guest()
    assert time.monotonic() - began < 10
    assert again.cache_key == guest_images.cache_key
    assert again.kernel == guest_images.kernel


def test_one_disk_guest_boots_under_tcg_and_its_agent_answers_in_time(
        test_guest, record_property):
    record_property("boot_to_agent_s", round(test_guest.boot_seconds, 2))
    print(f"boot-to-agent: {test_guest.boot_seconds:.2f} s")
    assert test_guest.boot_seconds < BOOT_BUDGET_S
    assert "<domain type='qemu'" in test_guest.domain.XMLDesc(0)
    assert test_guest.name.startswith("nativesnap-test-")
    uname = test_guest.run(["uname", "-r"]).decode().strip()
    assert uname == test_guest.images.kernel_version
    test_guest.ping()


def test_random_data_written_in_the_guest_has_the_same_sha256_read_back_in_the_guest(
        test_guest):
    size = 3 * 1024 * 1024 + 17
    written = test_guest.write_random("/data/random.bin", size)
    assert len(written) == 64
    assert test_guest.sha256("/data/random.bin") == written
    assert test_guest.sh("wc -c < /data/random.bin").strip() == str(size)
    # The same bytes fetched to the host through the agent hash the same.
    assert hashlib.sha256(test_guest.read_file("/data/random.bin")).hexdigest() == written


def test_bytes_written_through_the_agent_are_in_the_guest_file(test_guest):
    data = os.urandom(2 * guestlib.WRITE_CHUNK + 123)
    test_guest.write_file("/data/from-host.bin", data)
    test_guest.sync()
    assert test_guest.sha256("/data/from-host.bin") == hashlib.sha256(data).hexdigest()
    assert test_guest.read_file("/data/from-host.bin") == data
    code, out, err = test_guest.exec(["/bin/sh", "-c", "cat; echo oops >&2; exit 3"],
                                     input_data=b"stdin reaches the guest")
    assert (code, out, err) == (3, b"stdin reaches the guest", b"oops\n")


def test_three_disk_guest_mounts_vda_vdb_vdc_as_ext4_at_data_data1_data2(
        three_disk_guest):
    guest = three_disk_guest
    mounts = {mountpoint: (device, fstype) for device, mountpoint, fstype, _ in
              guest.mounts()}
    for disk in guest.disks:
        assert mounts[disk.mountpoint] == (f"/dev/{disk.target}", "ext4"), mounts
        serial = guest.read_file(f"/sys/block/{disk.target}/serial").decode().strip()
        assert serial == disk.serial
    assert [d.mountpoint for d in guest.disks] == ["/data", "/data1", "/data2"]
    # Each disk takes its own data.
    sums = {d.mountpoint: guest.write_random(f"{d.mountpoint}/f", 256 * 1024)
            for d in guest.disks}
    assert len(set(sums.values())) == 3
    for mountpoint, digest in sums.items():
        assert guest.sha256(f"{mountpoint}/f") == digest


def test_fsfreeze_freezes_every_mounted_ext4_filesystem_and_thaw_thaws_them(
        three_disk_guest):
    guest = three_disk_guest
    assert guest.fsfreeze_status() == "thawed"
    frozen = guest.fsfreeze_freeze()
    try:
        assert frozen == 3   # /data, /data1, /data2; tmpfs and rootfs are skipped
        assert guest.fsfreeze_status() == "frozen"
    finally:
        thawed = guest.fsfreeze_thaw()
    assert thawed == 3
    assert guest.fsfreeze_status() == "thawed"
    assert [event for event, _ in guest.fsfreeze_hook_log()][-2:] == ["freeze", "thaw"]
    # Writable again after the thaw.
    guest.write_random("/data1/after-thaw", 4096)


def test_fsfreeze_of_a_one_disk_guest_freezes_at_least_its_data_disk(test_guest):
    assert test_guest.fsfreeze_freeze() >= 1
    assert test_guest.fsfreeze_status() == "frozen"
    assert test_guest.fsfreeze_thaw() >= 1
    assert test_guest.fsfreeze_status() == "thawed"


def test_a_marker_under_run_ram_is_on_tmpfs_and_not_on_any_disk(test_guest):
    test_guest.write_file("/run/ram/marker", b"only in RAM\n")
    assert test_guest.read_file("/run/ram/marker") == b"only in RAM\n"
    mounts = {mountpoint: fstype for _, mountpoint, fstype, _ in test_guest.mounts()}
    assert mounts["/run/ram"] == "tmpfs"
    assert mounts["/data"] == "ext4"
    assert test_guest.sh("stat -f -c %T /run/ram/marker").strip() == "tmpfs"
    assert test_guest.sh("stat -f -c %T /data").strip() == "ext2/ext3"
    assert not test_guest.exists("/data/marker")


def test_qemu_ga_is_respawned_when_it_exits(test_guest):
    old_pid = test_guest.sh("pidof qemu-ga").strip()
    with pytest.raises(guestlib.AgentError):
        # The agent dies under this very command: its status never comes back.
        test_guest.exec(["/bin/sh", "-c", "sleep 0.3; kill $(pidof qemu-ga)"],
                        timeout=10)
    time.sleep(0.5)
    test_guest.wait_for_agent(30)
    assert test_guest.sh("pidof qemu-ga").strip() not in ("", old_pid)


def test_overlay_disks_are_linked_clones_of_the_template(make_guest):
    guest = make_guest(disks=1, disk_mode="overlay")
    xml = guest.domain.XMLDesc(0)
    assert guest.disks[0].path in xml
    assert guest.images.disk_template in xml   # libvirt shows the backing store
    digest = guest.write_random("/data/on-overlay", 64 * 1024)
    assert guest.sha256("/data/on-overlay") == digest


def test_teardown_removes_the_domain_and_its_files_after_a_snapshot_added_overlays(
        make_guest, libvirt_conn):
    guest = make_guest(disks=2)
    overlays = [os.path.join(guest.dir, f"snap-{d.target}.qcow2") for d in guest.disks]
    disks = "".join(f"<disk name='{d.target}' snapshot='external'>"
                    f"<source file='{path}'/></disk>"
                    for d, path in zip(guest.disks, overlays))
    guest.domain.snapshotCreateXML(
        f"<domainsnapshot><name>s1</name><disks>{disks}</disks></domainsnapshot>",
        libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
        | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC
        | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE)
    assert guest.domain.snapshotListNames() == ["s1"]
    assert all(os.path.exists(p) for p in overlays)
    guest.cleanup()
    assert guest.lookup() is None
    assert not os.path.exists(guest.dir)
    with pytest.raises(libvirt.libvirtError):
        libvirt_conn.lookupByName(guest.name)
    guest.cleanup()   # idempotent

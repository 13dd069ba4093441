"""The libvirt driver with Ceph RBD disks, through the HTTP API, against the
real one-node cluster (tests/ceph_fixtures.py) and real TCG guests: a guest
whose root disk is a qcow2 file and whose data disk is an RBD image, so one
snapshot covers a disk of each kind in one freeze window. Data is written and
checksummed inside the guest, on the raw RBD device."""

import os
import subprocess
import uuid

import pytest
import rbd as rbd_lib

from tests import fixtures
from tests.functional import libvirt_helpers as lh
from tests.functional import rbd_helpers as rbd
from tests import guest as guestlib

pytest_plugins = ["tests.ceph_fixtures", "tests.functional.guest_fixtures"]

MIB = 1024 * 1024
SERIAL = "rbd-data"
WAIT = 120


@pytest.fixture(scope="module")
def rbd_api(ceph, tmp_path_factory):
    """nativesnap-api with the libvirt driver, acting in Ceph as
    client.nativesnap."""
    state = str(tmp_path_factory.mktemp("api-rbd"))
    server = fixtures.APIServer(state, fixtures.sqlite_url(state),
                                drivers=("libvirt",), extra_conf={
        "rbd": {"ceph_conf": ceph.conf_path, "rbd_user": "nativesnap",
                "connect_timeout": "10"}})
    server.manage("db", "sync")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def rbd_guest(ceph, libvirt_conn, make_guest):
    """A running guest: vda its qcow2 root file, vdb a 32 MiB RBD image of
    pool vms (client.nativesnap, cephx through a libvirt secret)."""
    image = f"guest-{uuid.uuid4()}"
    ceph.create_image("vms", image, 32 * MIB)
    secret = ceph.libvirt_secret(libvirt_conn, "nativesnap")
    guest = make_guest(disks=1, boot=False)
    rbd.define_with_rbd_disk(libvirt_conn, guest, ceph.rbd_disk_xml(
        "vms", image, "nativesnap", secret, "vdb", serial=SERIAL))
    guest.start(timeout=WAIT)
    guest.rbd_image = image
    yield guest
    guest.cleanup()
    ceph.remove_image("vms", image, children="remove")


def _device(guest):
    """The RBD disk in the guest. A spawned domain's disks have no serial (it
    names the source's disk): its RBD disk is its second one, vdb."""
    return getattr(guest, "rbd_device", None) or rbd.device(guest, SERIAL)


def _write(guest):
    return rbd.write_random(guest, _device(guest))


def _read(guest):
    return rbd.read_sha256(guest, _device(guest))


def _revert(api, guest, server_id, snapshot_id):
    lh.revert(api, server_id, snapshot_id)
    guest.wait_for_agent(timeout=WAIT)


def test_reverts_back_and_forth_restore_the_rbd_disk_and_the_file_disk_at_one_instant(
        rbd_api, rbd_guest, ceph):
    server = lh.adopt(rbd_api, rbd_guest)
    assert server["capabilities"]["memory"] is False  # docs/rbd.md
    a = _write(rbd_guest)
    rbd_guest.write_random("/data/f", 64 * 1024)
    root_a = rbd_guest.sha256("/data/f")
    s1 = lh.snapshot(rbd_api, server["id"], name="s1")
    assert {d["target"]: d["format"] for d in s1["disks"]} == {
        "vda": "qcow2", "vdb": "raw"}
    b = _write(rbd_guest)
    s2 = lh.snapshot(rbd_api, server["id"], name="s2")
    assert ceph.image_info("vms", rbd_guest.rbd_image).snapshot(s1["id"])
    assert ceph.image_info("vms", rbd_guest.rbd_image).snapshot(s2["id"])
    _write(rbd_guest)  # C, never snapshotted
    rbd_guest.write_random("/data/f", 64 * 1024)
    _revert(rbd_api, rbd_guest, server["id"], s1["id"])
    assert _read(rbd_guest) == a
    assert rbd_guest.sha256("/data/f") == root_a  # the qcow2 disk, same instant
    _revert(rbd_api, rbd_guest, server["id"], s2["id"])
    assert _read(rbd_guest) == b
    # A memory snapshot cannot switch an RBD disk: refused, nothing made.
    resp = rbd_api.request("POST", f"/v1/servers/{server['id']}/snapshots",
                           token=lh.ADMIN,
                           json={"snapshot": {"name": "m", "memory": True}})
    assert resp.status_code == 400 and "vdb" in resp.text, resp.text
    # Deleting a snapshot removes its RBD snapshot; the others stay exact.
    lh.delete_snapshot(rbd_api, server["id"], s1["id"])
    names = [s.name for s in ceph.image_info("vms", rbd_guest.rbd_image).snapshots]
    assert s1["id"] not in names and s2["id"] in names
    _revert(rbd_api, rbd_guest, server["id"], s2["id"])
    assert _read(rbd_guest) == b


def _spawn(api, snapshot_id, name, linked):
    resp = api.request("POST", "/v1/servers", token=lh.ADMIN, json={
        "server": {"name": name, "snapshot_id": snapshot_id,
                   "linked": linked, "power_on": True}})
    assert resp.status_code == 202, resp.text
    new = lh.wait_idle(api, resp.json()["server"]["id"])
    assert new["status"] == "ACTIVE", new
    return new


def _attach(libvirt_conn, server, tmp_path):
    clone = guestlib.Guest.attach(libvirt_conn, server["hypervisor_ref"])
    clone.console_log_path = str(tmp_path / "none")
    clone.rbd_device = "vdb"
    clone.wait_for_agent(timeout=WAIT)
    return clone


def _delete_server(api, server_id):
    resp = api.request("DELETE", f"/v1/servers/{server_id}", token=lh.ADMIN)
    assert resp.status_code in (202, 204), resp.text
    api.wait_for(lambda: api.request(
        "GET", f"/v1/servers/{server_id}", token=lh.ADMIN).status_code == 404,
        timeout=WAIT, what="the spawned server to be gone")


def test_linked_and_full_spawns_read_the_snapshot_and_only_the_linked_one_keeps_it(
        rbd_api, rbd_guest, ceph, libvirt_conn, tmp_path):
    server = lh.adopt(rbd_api, rbd_guest)
    a = _write(rbd_guest)
    s1 = lh.snapshot(rbd_api, server["id"], name="s1")
    _write(rbd_guest)
    spawned = []
    try:
        linked = _spawn(rbd_api, s1["id"], "rbd-linked", linked=True)
        spawned.append(linked["id"])
        assert linked["flatten_progress"] is None
        assert _read(_attach(libvirt_conn, linked, tmp_path)) == a
        # A full spawn boots on its clone at once; the clone is flattened
        # in the background, and then no longer needs the snapshot.
        full = _spawn(rbd_api, s1["id"], "rbd-full", linked=False)
        spawned.append(full["id"])
        assert full["flatten_progress"] is not None
        full = rbd_api.wait_for(lambda: (lambda s: s if s["flatten_progress"]
                                         == 100 else None)(rbd_api.request(
            "GET", f"/v1/servers/{full['id']}", token=lh.ADMIN).json()["server"]),
            timeout=WAIT, interval=0.2, what="the full spawn's flatten")
        assert _read(_attach(libvirt_conn, full, tmp_path)) == a
        children = ceph.image_info("vms", rbd_guest.rbd_image).snapshot(
            s1["id"]).children
        assert len(children) == 1, children  # the linked clone's only
        # The snapshot a linked clone reads cannot go: 409 naming the server.
        resp = rbd_api.request(
            "DELETE", f"/v1/servers/{server['id']}/snapshots/{s1['id']}",
            token=lh.ADMIN)
        assert resp.status_code == 409 and linked["id"] in resp.text, resp.text
        assert full["id"] not in resp.text
        _delete_server(rbd_api, spawned.pop(0))
        assert ceph.image_info("vms", rbd_guest.rbd_image).snapshot(
            s1["id"]).children == ()  # the linked clone went with its server
        # The flattened full spawn needs nothing of S1: it can go, and the
        # full spawn still reads A.
        lh.delete_snapshot(rbd_api, server["id"], s1["id"])
        assert _read(_attach(libvirt_conn, full, tmp_path)) == a
    finally:
        for server_id in spawned:
            _delete_server(rbd_api, server_id)


def test_one_snapshot_covers_two_rbd_disks_at_one_instant_and_revert_restores_both(
        rbd_api, ceph, libvirt_conn, make_guest):
    images = [f"pair-{uuid.uuid4()}" for _ in range(2)]
    secret = ceph.libvirt_secret(libvirt_conn, "nativesnap")
    disks = ""
    for image, target in zip(images, ("vdb", "vdc")):
        ceph.create_image("vms", image, 16 * MIB)
        disks += ceph.rbd_disk_xml("vms", image, "nativesnap", secret, target,
                                   serial=f"pair-{target}")
    guest = make_guest(disks=1, boot=False)
    rbd.define_with_rbd_disk(libvirt_conn, guest, disks)
    try:
        guest.start(timeout=WAIT)
        devices = [rbd.device(guest, f"pair-{t}") for t in ("vdb", "vdc")]
        server = lh.adopt(rbd_api, guest)
        a = [rbd.write_random(guest, d) for d in devices]
        s1 = lh.snapshot(rbd_api, server["id"], name="pair", quiesce="required")
        assert s1["consistency"] == "application"
        assert {"vdb", "vdc"} <= {d["target"] for d in s1["disks"]}, s1["disks"]
        for image in images:  # one RBD snapshot per disk, both named by S1
            assert ceph.image_info("vms", image).snapshot(s1["id"])
        b = [rbd.write_random(guest, d) for d in devices]
        assert a != b
        _revert(rbd_api, guest, server["id"], s1["id"])
        devices = [rbd.device(guest, f"pair-{t}") for t in ("vdb", "vdc")]
        assert [rbd.read_sha256(guest, d) for d in devices] == a
    finally:
        guest.cleanup()
        for image in images:
            ceph.remove_image("vms", image, children="remove")


def test_an_export_copies_the_rbd_snapshot_into_the_image_store(
        rbd_api, ceph, libvirt_conn, make_guest):
    # A guest whose boot disk is the RBD image (exports take the first disk).
    image = f"export-{uuid.uuid4()}"
    ceph.create_image("vms", image, 16 * MIB)
    ceph.write("vms", image, 0, os.urandom(2 * MIB))
    secret = ceph.libvirt_secret(libvirt_conn, "nativesnap")
    guest = make_guest(disks=1, boot=False)
    rbd.define_with_rbd_disk(libvirt_conn, guest, ceph.rbd_disk_xml(
        "vms", image, "nativesnap", secret, "vda", serial=SERIAL),
        replace_first=True)
    try:
        server = lh.adopt(rbd_api, guest)
        s1 = lh.snapshot(rbd_api, server["id"], name="s1")
        ceph.write("vms", image, 0, os.urandom(MIB))  # after the snapshot
        resp = rbd_api.request(
            "POST", f"/v1/servers/{server['id']}/snapshots/{s1['id']}/action",
            token=lh.ADMIN, json={"export": {"image_name": "from-rbd"}})
        assert resp.status_code == 202, resp.text
        image_id = resp.json()["image"]["id"]
        lh.wait_idle(rbd_api, server["id"])
        done = rbd_api.request("GET", f"/v1/images/{image_id}",
                               token=lh.ADMIN).json()["image"]
        assert done["status"] == "active", done["fault"]
        path = done["location"][len("file://"):]
        snap_path = ceph.qemu_path("vms", image).replace(
            f"vms/{image}", f"vms/{image}@{s1['id']}", 1)
        compare = subprocess.run(["qemu-img", "compare", path, snap_path],
                                 capture_output=True, text=True, timeout=120)
        assert compare.returncode == 0, compare.stdout + compare.stderr
    finally:
        guest.cleanup()
        ceph.remove_image("vms", image, children="remove")


def test_an_rbd_disk_nativesnap_cannot_open_is_refused_at_adoption_naming_it(
        rbd_api, ceph, libvirt_conn, make_guest):
    secret = ceph.libvirt_secret(libvirt_conn, "nativesnap")
    guest = make_guest(disks=1, boot=False)
    rbd.define_with_rbd_disk(libvirt_conn, guest, ceph.rbd_disk_xml(
        "no-such-pool", "disk", "nativesnap", secret, "vdb", serial=SERIAL))
    resp = rbd_api.request("POST", "/v1/servers", token=lh.ADMIN, json={
        "server": {"name": guest.name, "driver": "libvirt",
                   "hypervisor_ref": guest.name}})
    assert resp.status_code == 400, resp.text
    assert "no-such-pool" in resp.text
    listed = rbd_api.request("GET", "/v1/servers", token=lh.ADMIN).json()
    assert guest.name not in [s["name"] for s in listed["servers"]]


def test_a_snapshot_of_a_10_gib_image_holding_1_gib_reads_none_of_its_data(
        ceph, libvirt_conn, make_guest, tmp_path):
    # Every qemu-img the service runs is logged by a wrapper first on PATH:
    # a create that copied or converted data would show in the log.
    wrappers = tmp_path / "bin"
    wrappers.mkdir()
    calls = tmp_path / "qemu-img.calls"
    (wrappers / "qemu-img").write_text(
        f'#!/bin/sh\necho "$*" >> {calls}\nexec /usr/bin/qemu-img "$@"\n')
    (wrappers / "qemu-img").chmod(0o755)
    state = str(tmp_path / "state")
    os.makedirs(state)
    api = fixtures.APIServer(state, fixtures.sqlite_url(state),
                             drivers=("libvirt",), extra_conf={
        "rbd": {"ceph_conf": ceph.conf_path, "rbd_user": "nativesnap"}},
        env={"PATH": f"{wrappers}:{os.environ['PATH']}"})
    api.manage("db", "sync")
    api.start()
    image = f"big-{uuid.uuid4()}"
    ceph.create_image("vms", image, 10 * 1024 * MIB)
    block = os.urandom(4 * MIB)
    try:
        with ceph.ioctx("vms") as ioctx, rbd_lib.Image(ioctx, image) as img:
            for offset in range(0, 1024 * MIB, 4 * MIB):
                img.write(block, offset)
        # Never started: the snapshot is of the disks. Its small qcow2 root
        # file gets an overlay (qemu-img create, which shows the wrapper
        # works); the RBD disk gets an RBD snapshot and nothing else.
        guest = make_guest(disks=1, boot=False)
        secret = ceph.libvirt_secret(libvirt_conn, "nativesnap")
        rbd.define_with_rbd_disk(libvirt_conn, guest, ceph.rbd_disk_xml(
            "vms", image, "nativesnap", secret, "vdb", serial=SERIAL))
        server = lh.adopt(api, guest)
        snap = lh.snapshot(api, server["id"], name="big")
        assert snap["status"] == "available"
        assert ceph.image_info("vms", image).snapshot(snap["id"])
        ran = calls.read_text().splitlines()
        assert ran and all(line.startswith("create ") for line in ran), ran
        assert not any(image in line for line in ran), ran
    finally:
        api.stop()
        ceph.remove_image("vms", image, children="remove")

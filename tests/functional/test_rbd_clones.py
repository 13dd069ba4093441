"""Clones of RBD snapshots that nativesnap flattens in the background, through
the HTTP API against the real one-node Ceph (tests/ceph_fixtures.py): an
export by clone into the image pool, usable at once and flattened later; the
full-copy fallback when the clone is refused, with the reason recorded; a
snapshot delete that waits in ``deleting`` for the flatten of its clone; a
flatten cut by ``kill -9`` resumed after the restart. The domains are never
started: exports and deletes work on the disks (docs/rbd.md)."""

import os
import subprocess
import uuid

import pytest

from tests import fixtures
from tests.functional import libvirt_helpers as lh
from tests.functional import rbd_helpers as rbd

pytest_plugins = ["tests.ceph_fixtures", "tests.functional.guest_fixtures"]

MIB = 1024 * 1024
WAIT = 120


def _api(ceph, tmp_path, user="nativesnap", failpoints=None, state=None):
    state = state or str(tmp_path / f"state-{uuid.uuid4().hex[:6]}")
    os.makedirs(state, exist_ok=True)
    conf = {"rbd": {"ceph_conf": ceph.conf_path, "rbd_user": user,
                    "connect_timeout": "10"}}
    if failpoints:
        conf["fault_injection"] = {"failpoints": failpoints}
    api = fixtures.APIServer(state, fixtures.sqlite_url(state),
                             drivers=("libvirt",), extra_conf=conf)
    api.manage("db", "sync")
    return api


@pytest.fixture
def rbd_boot_domain(ceph, libvirt_conn, make_guest):
    """A shut-off domain whose boot disk (vda) is a 16 MiB RBD image of pool
    vms holding 2 MiB of random data."""
    image = f"clone-src-{uuid.uuid4()}"
    ceph.create_image("vms", image, 16 * MIB)
    ceph.write("vms", image, 0, os.urandom(2 * MIB))
    secret = ceph.libvirt_secret(libvirt_conn, "nativesnap")
    guest = make_guest(disks=1, boot=False)
    rbd.define_with_rbd_disk(libvirt_conn, guest, ceph.rbd_disk_xml(
        "vms", image, "nativesnap", secret, "vda", serial="boot"),
        replace_first=True)
    guest.rbd_image = image
    yield guest
    guest.cleanup()
    ceph.remove_image("vms", image, children="flatten")


def _snapshot_then_write(api, ceph, guest):
    server = lh.adopt(api, guest)
    snap = lh.snapshot(api, server["id"], name="s1")
    ceph.write("vms", guest.rbd_image, 0, os.urandom(MIB))  # after it
    return server, snap


def _export(api, server, snap, disk_format="raw"):
    resp = api.request(
        "POST", f"/v1/servers/{server['id']}/snapshots/{snap['id']}/action",
        token=lh.ADMIN, json={"export": {"image_name": "exported",
                                         "disk_format": disk_format}})
    assert resp.status_code == 202, resp.text
    image_id = resp.json()["image"]["id"]
    lh.wait_idle(api, server["id"])
    return _image(api, image_id)


def _image(api, image_id):
    resp = api.request("GET", f"/v1/images/{image_id}", token=lh.ADMIN)
    assert resp.status_code == 200, resp.text
    return resp.json()["image"]


def _wait_flattened(api, image_id):
    return api.wait_for(
        lambda: (lambda i: i if i["flatten_progress"] == 100 else None)(
            _image(api, image_id)), timeout=WAIT, interval=0.2,
        what=f"image {image_id} to be flattened")


def _same(ceph, path_a, path_b):
    done = subprocess.run(["qemu-img", "compare", "-f", "raw", "-F", "raw",
                           path_a, path_b], capture_output=True, text=True,
                          timeout=120)
    return done.returncode == 0, done.stdout + done.stderr


def _snap_path(ceph, image, snap_id):
    return ceph.qemu_path("vms", image).replace(
        f"vms/{image}", f"vms/{image}@{snap_id}", 1)


def test_an_export_by_clone_is_usable_at_once_and_a_snapshot_delete_waits_for_its_flatten(
        ceph, rbd_boot_domain, tmp_path):
    # The first flatten step pauses 4 s: long enough to see the clone
    # before it is flattened and to ask for the snapshot's delete meanwhile.
    api = _api(ceph, tmp_path, failpoints="manager.flatten.progress=sleep:4@1")
    api.start()
    try:
        server, s1 = _snapshot_then_write(api, ceph, rbd_boot_domain)
        image = _export(api, server, s1)
        assert image["status"] == "active", image["fault"]
        assert image["location"] == (f"rbd://{ceph.fsid}/images/"
                                     f"{image['id']}/snap")
        assert image["fallback_reason"] is None and image["sha256"] is None
        assert image["size_bytes"] == 16 * MIB
        # Usable at once: a clone of the snapshot, read before any flatten.
        info = ceph.image_info("images", image["id"])
        assert (info.parent.pool, info.parent.image, info.parent.snap) == (
            "vms", rbd_boot_domain.rbd_image, s1["id"])
        assert image["flatten_progress"] < 100
        same, why = _same(ceph, ceph.qemu_path("images", image["id"]),
                          _snap_path(ceph, rbd_boot_domain.rbd_image, s1["id"]))
        assert same, why
        # The snapshot's clone is being flattened: its delete waits for it.
        resp = api.request(
            "DELETE", f"/v1/servers/{server['id']}/snapshots/{s1['id']}",
            token=lh.ADMIN)
        assert resp.status_code == 202, resp.text
        shown = api.request("GET", f"/v1/servers/{server['id']}/snapshots/"
                            f"{s1['id']}", token=lh.ADMIN).json()["snapshot"]
        assert shown["status"] == "deleting"
        assert s1["id"] in [s.name for s in ceph.image_info(
            "vms", rbd_boot_domain.rbd_image).snapshots]
        _wait_flattened(api, image["id"])
        api.wait_for(lambda: api.request(
            "GET", f"/v1/servers/{server['id']}/snapshots/{s1['id']}",
            token=lh.ADMIN).status_code == 404, timeout=WAIT,
            what="the snapshot to be deleted after the flatten")
        assert ceph.image_info("images", image["id"]).parent is None
        assert s1["id"] not in [s.name for s in ceph.image_info(
            "vms", rbd_boot_domain.rbd_image).snapshots]
        # The image outlived its snapshot with the snapshot's data, and its
        # delete removes the RBD image.
        resp = api.request("DELETE", f"/v1/images/{image['id']}",
                           token=lh.ADMIN)
        assert resp.status_code in (202, 204), resp.text
        api.wait_for(lambda: not ceph.image_exists("images", image["id"]),
                     timeout=WAIT, what="the exported RBD image to be removed")
    finally:
        api.stop()


def test_without_write_on_the_image_pool_the_export_is_a_copy_that_says_why(
        ceph, rbd_boot_domain, tmp_path):
    api = _api(ceph, tmp_path, user="nativesnap-ro-images")
    api.start()
    try:
        server, s1 = _snapshot_then_write(api, ceph, rbd_boot_domain)
        images = [_export(api, server, s1) for _ in range(2)]
        for image in images:
            assert image["status"] == "active", image["fault"]
            assert image["location"].startswith("file://")
            assert "images" in image["fallback_reason"]
            assert image["flatten_progress"] is None
            assert not ceph.image_exists("images", image["id"])
            same, why = _same(ceph, image["location"][len("file://"):],
                              _snap_path(ceph, rbd_boot_domain.rbd_image,
                                         s1["id"]))
            assert same, why
        # The cause is logged once, not per export.
        assert api.read_log().count("are full copies, not clones") == 1
    finally:
        api.stop()


def test_a_flatten_cut_by_kill_9_resumes_after_the_restart(
        ceph, rbd_boot_domain, tmp_path):
    state = str(tmp_path / "state")
    api = _api(ceph, tmp_path, state=state,
               failpoints="manager.flatten.progress=crash@1")
    api.start()
    server, s1 = _snapshot_then_write(api, ceph, rbd_boot_domain)
    resp = api.request(
        "POST", f"/v1/servers/{server['id']}/snapshots/{s1['id']}/action",
        token=lh.ADMIN, json={"export": {"image_name": "cut",
                                         "disk_format": "raw"}})
    assert resp.status_code == 202, resp.text
    image_id = resp.json()["image"]["id"]
    api.wait_for(lambda: api.proc.poll() is not None, timeout=WAIT,
                 what="the service to die at its first flatten step")
    # What the clone needs is still there; the clone is not flattened.
    assert ceph.image_info("images", image_id).parent is not None
    assert s1["id"] in [s.name for s in ceph.image_info(
        "vms", rbd_boot_domain.rbd_image).snapshots]
    api = _api(ceph, tmp_path, state=state)
    api.start()
    try:
        image = _wait_flattened(api, image_id)
        assert image["status"] == "active"
        assert ceph.image_info("images", image_id).parent is None
        same, why = _same(ceph, ceph.qemu_path("images", image_id),
                          _snap_path(ceph, rbd_boot_domain.rbd_image, s1["id"]))
        assert same, why
        lh.delete_snapshot(api, server["id"], s1["id"])
        resp = api.request("DELETE", f"/v1/images/{image_id}", token=lh.ADMIN)
        assert resp.status_code in (202, 204), resp.text
    finally:
        api.stop()

"""HTTP helpers for the libvirt functional tests: adopt a test guest, take a
snapshot and wait for it, revert and wait, all bounded."""

import contextlib
import json
import os
import subprocess
import time
import uuid

import sqlalchemy as sa

ADMIN = "admin:proj-libvirt"


def adopt(api, guest, token=ADMIN):
    resp = api.request("POST", "/v1/servers", token=token, json={"server": {
        "name": guest.name, "driver": "libvirt", "hypervisor_ref": guest.name}})
    assert resp.status_code == 201, resp.text
    return resp.json()["server"]


def server(api, server_id, token=ADMIN):
    resp = api.request("GET", f"/v1/servers/{server_id}", token=token)
    assert resp.status_code == 200, resp.text
    return resp.json()["server"]


def wait_idle(api, server_id, timeout=120, token=ADMIN):
    return api.wait_for(
        lambda: (lambda s: s if s["task_state"] is None else None)(
            server(api, server_id, token)),
        timeout=timeout, interval=0.1, what=f"server {server_id} to be idle")


def snapshots(api, server_id, token=ADMIN):
    resp = api.request("GET", f"/v1/servers/{server_id}/snapshots", token=token)
    assert resp.status_code == 200, resp.text
    return {s["id"]: s for s in resp.json()["snapshots"]}


def snapshot(api, server_id, name="snap", expect="available", token=ADMIN,
             **fields):
    resp = api.request("POST", f"/v1/servers/{server_id}/snapshots", token=token,
                       json={"snapshot": dict(fields, name=name)})
    assert resp.status_code == 202, resp.text
    snap_id = resp.json()["snapshot"]["id"]
    wait_idle(api, server_id, token=token)
    snap = snapshots(api, server_id, token)[snap_id]
    assert snap["status"] == expect, snap
    return snap


def revert(api, server_id, snapshot_id, token=ADMIN, **fields):
    resp = api.request("POST", f"/v1/servers/{server_id}/action", token=token,
                       json={"revert": dict(fields, snapshot_id=snapshot_id)})
    assert resp.status_code == 202, resp.text
    done = wait_idle(api, server_id, token=token)
    assert done["fault"] is None, done["fault"]
    return done


def delete_snapshot(api, server_id, snapshot_id, token=ADMIN):
    resp = api.request("DELETE", f"/v1/servers/{server_id}/snapshots/{snapshot_id}",
                       token=token)
    assert resp.status_code == 202, resp.text
    wait_idle(api, server_id, token=token)
    gone = api.request("GET", f"/v1/servers/{server_id}/snapshots/{snapshot_id}",
                       token=token)
    assert gone.status_code == 404, gone.text


def driver_info(api, server_id):
    """The libvirt driver's record of the server (files of each snapshot)."""
    engine = sa.create_engine(api.db_url)
    try:
        with engine.connect() as conn:
            value = conn.execute(sa.text("SELECT driver_info FROM servers WHERE id = :id"),
                                 {"id": server_id}).scalar_one()
    finally:
        engine.dispose()
    return json.loads(value)


def backing_chain(path):
    """The files of ``path``'s backing chain, top first (qemu-img info -U)."""
    out = subprocess.run(["qemu-img", "info", "-U", "--backing-chain",
                          "--output=json", path], check=True, capture_output=True,
                         text=True, timeout=60).stdout
    return [layer["filename"] for layer in json.loads(out)]


def active_disks(guest):
    from nativesnap.virt.libvirt import xml as lxml_xml

    return {d.target: d.source for d in lxml_xml.disks(guest.lookup().XMLDesc(0))
            if d.device == "disk"}


@contextlib.contextmanager
def small_filesystem(directory, size=64 * 1024 * 1024):
    """A ``size``-byte ext4 filesystem, loop-mounted under ``directory``
    (a pathlib.Path), its mount point's path yielded; unmounted afterwards
    (lazily at worst, and then the test fails: no mount outlives it)."""
    image, mountpoint = directory / "small-fs.img", directory / "small-fs"
    mountpoint.mkdir()
    with open(image, "wb") as f:
        f.truncate(size)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], check=True,
                   capture_output=True, timeout=60)
    subprocess.run(["mount", "-o", "loop", str(image), str(mountpoint)],
                   check=True, capture_output=True, timeout=60)
    yield str(mountpoint)
    for _ in range(50):
        done = subprocess.run(["umount", str(mountpoint)], capture_output=True,
                              text=True, timeout=60)
        if done.returncode == 0:
            return
        time.sleep(0.2)  # a QEMU of the test still closing its files
    subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True,
                   timeout=60)
    raise AssertionError(f"could not unmount {mountpoint}: {done.stderr}")


def as_cinder_volumes(guest, cinder, targets=("vdb", "vdc")):
    """Turn the guest's data disks into Cinder volumes before it is defined:
    the file becomes ``<dir>/volumes/volume-<id>``, the serial the volume id,
    with Cinder's chain record next to it and the volume ``in-use`` in
    Cinder (``cinder``: a tests.cinder_fixtures server; the volume belongs
    to its ``project_id``). Returns the directory and {target: volume id}."""
    directory = os.path.join(guest.dir, "volumes")
    os.makedirs(directory)
    volumes = {}
    for disk in guest.disks:
        if disk.target not in targets:
            continue
        volume_id = str(uuid.uuid4())
        path = os.path.join(directory, f"volume-{volume_id}")
        os.rename(disk.path, path)
        disk.path, disk.serial = path, volume_id
        with open(os.path.join(directory, f"volume-{volume_id}.info"), "w") as f:
            json.dump({"active": f"volume-{volume_id}"}, f)
        cinder.create_volume(volume_id=volume_id, status="in-use")
        volumes[disk.target] = volume_id
    return directory, volumes

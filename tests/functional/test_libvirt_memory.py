"""Memory snapshots of the libvirt driver (nativesnap/virt/libvirt/memory.py)
through the HTTP API, on real libvirtd and TCG guests whose RAM holds data:
the RAM comes back on revert (checked inside the guest), the pause reported
is the vCPUs' stop and not the whole save, and a save that cannot end is
cancelled by the task's timeout with nothing left behind."""

import json
import os

import libvirt
from lxml import etree
import sqlalchemy as sa

from tests import fixtures
from tests.functional import libvirt_helpers as lh

pytest_plugins = ["tests.functional.guest_fixtures"]

# Non-zero data (QEMU saves a zero page as a few bytes): a 4 MiB pattern from
# the guest's /dev/urandom, repeated; prints the file's sha256.
FILL = ('head -c 4194304 /dev/urandom > /tmp/pattern && i=0 && '
        'while [ "$i" -lt "$1" ]; do cat /tmp/pattern; i=$((i + 1)); done > "$2" && '
        'rm /tmp/pattern && sha256sum "$2"')


def fill_ram(guest, mib, path="/tmp/fill"):
    """``mib`` MiB of data in the guest's /tmp, a tmpfs (its RAM); returns the
    sha256 the guest computes of it."""
    out = guest.run(["/bin/sh", "-c", FILL, "sh", str(mib // 4), path], timeout=300)
    return out.split()[0].decode()


def memory_save(api, snapshot_id):
    """What the driver recorded of the save (the snapshot's driver_info)."""
    engine = sa.create_engine(api.db_url)
    try:
        with engine.connect() as conn:
            value = conn.execute(
                sa.text("SELECT driver_info FROM snapshots WHERE id = :id"),
                {"id": snapshot_id}).scalar_one()
    finally:
        engine.dispose()
    return json.loads(value)["memory_save"]


def disk_sources(dom):
    return {d.find("target").get("dev"): d.find("source").get("file")
            for d in etree.fromstring(dom.XMLDesc(0)).iter("disk")}


def test_a_live_memory_snapshot_reverts_to_its_ram_and_reports_a_pause_shorter_than_the_save(
        libvirt_api, make_guest):
    guest = make_guest(disks=1)
    srv = lh.adopt(libvirt_api, guest)
    filled = fill_ram(guest, 32)
    guest.write_file("/run/ram/marker", b"at-snapshot")

    snap = lh.snapshot(libvirt_api, srv["id"], name="live", memory=True)
    assert snap["memory"] and snap["consistency"] == "memory"
    saved = memory_save(libvirt_api, snap["id"])
    assert saved["live"] is True and saved["forced_pause"] is False
    # Measured between the SUSPENDED and RESUMED events, inside the call: the
    # RAM was copied while the guest ran, so the call lasted longer.
    assert saved["paused_from"] == "lifecycle events"
    assert snap["paused_ms"] == saved["paused_ms"]
    assert 0 < saved["paused_ms"] < saved["call_ms"]
    assert guest.lookup().state()[0] == libvirt.VIR_DOMAIN_RUNNING

    guest.write_file("/run/ram/marker", b"after-snapshot")
    assert fill_ram(guest, 32) != filled
    lh.revert(libvirt_api, srv["id"], snap["id"])
    guest.wait_for_agent(timeout=30)
    # Only the RAM holds these files: a boot would have lost them.
    assert guest.read_file("/run/ram/marker") == b"at-snapshot"
    assert guest.sha256("/tmp/fill") == filled


def test_with_live_memory_snapshots_off_the_save_pauses_the_guest_and_still_reverts(
        tmp_path, make_guest):
    state = str(tmp_path)
    api = fixtures.APIServer(state, fixtures.sqlite_url(state), drivers=("libvirt",),
                             extra_conf={"libvirt": {"live_memory_snapshots": "false"}})
    api.manage("db", "sync")
    api.start()
    try:
        guest = make_guest(disks=1)
        srv = lh.adopt(api, guest)
        filled = fill_ram(guest, 16)
        snap = lh.snapshot(api, srv["id"], name="paused", memory=True)
        saved = memory_save(api, snap["id"])
        assert saved["live"] is False and saved["paused_from"] == "lifecycle events"
        assert 0 < snap["paused_ms"] <= saved["call_ms"]
        fill_ram(guest, 16)
        lh.revert(api, srv["id"], snap["id"])
        guest.wait_for_agent(timeout=30)
        assert guest.sha256("/tmp/fill") == filled
    finally:
        api.stop()


def test_a_save_that_cannot_end_is_aborted_at_the_task_timeout_leaving_the_guest_running_as_before(
        tmp_path, libvirt_conn, make_guest):
    state = str(tmp_path)
    api = fixtures.APIServer(state, fixtures.sqlite_url(state), drivers=("libvirt",),
                             extra_conf={"DEFAULT": {"task_timeout": "3"}})
    api.manage("db", "sync")
    api.start()
    try:
        guest = make_guest(disks=1, memory_mib=256)
        srv = lh.adopt(api, guest)
        fill_ram(guest, 96)
        dom = libvirt_conn.lookupByUUIDString(guest.uuid)
        before = disk_sources(dom)

        resp = api.request("POST", f"/v1/servers/{srv['id']}/snapshots", token=lh.ADMIN,
                           json={"snapshot": {"name": "stalled", "memory": True}})
        assert resp.status_code == 202, resp.text
        snap_id = resp.json()["snapshot"]["id"]
        server_dir = os.path.join(state, "libvirt", srv["id"])
        memory_file = os.path.join(server_dir, f"{snap_id}.mem")
        api.wait_for(lambda: os.path.exists(memory_file), timeout=60, interval=0.002,
                     what="libvirt to start writing the memory file")
        # libvirt lets a running save's bandwidth be changed: at 1 MiB/s the
        # 96 MiB cannot be written within the task's 3 s.
        dom.migrateSetMaxSpeed(1, 0)

        lh.wait_idle(api, srv["id"], token=lh.ADMIN)
        snap = lh.snapshots(api, srv["id"])[snap_id]
        assert snap["status"] == "error", (
            "the save ended before it could be slowed down", snap)
        assert "did not finish within 3 s" in snap["fault"]["message"]
        # Aborted: no memory file, no overlay, the disks and the guest as before.
        assert not [f for f in os.listdir(server_dir) if f.startswith(snap_id)]
        assert disk_sources(dom) == before
        assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
        guest.ping()
        lh.snapshot(api, srv["id"], name="next", quiesce="off")
    finally:
        api.stop()

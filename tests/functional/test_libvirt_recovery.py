"""kill -9 of nativesnap-api in the middle of a create and of a delete, on a
real guest: after a restart the database and libvirt agree, the guest runs
and is thawed, and its data is intact (checked inside the guest)."""

import os
import time

import pytest

from tests import fixtures
from tests.functional import libvirt_helpers as lh

pytest_plugins = ["tests.functional.guest_fixtures"]

KIB = 1024


@pytest.fixture
def own_api(tmp_path):
    """A libvirt nativesnap-api of this test's own, that it may kill."""
    state = str(tmp_path / "state")
    os.makedirs(state)
    server = fixtures.APIServer(state, fixtures.sqlite_url(state),
                                drivers=("libvirt",))
    server.manage("db", "sync")
    server.start()
    yield server
    server.kill()


def _restart(api, delay):
    """kill -9 after ``delay`` seconds (the work is cut at different points),
    then start again: start-up recovery runs before the API answers."""
    time.sleep(delay)
    api.kill()
    api.start()


def _assert_database_and_libvirt_agree(api, guest, server_id):
    """No task left, nothing creating/deleting, every recorded frozen file
    present, the domain's chain readable, no stray file in its directory."""
    srv = lh.server(api, server_id)
    assert srv["task_state"] is None and srv["status"] == "ACTIVE"
    snaps = lh.snapshots(api, server_id)
    assert not [s for s in snaps.values() if s["status"] in ("creating", "deleting")]
    info = lh.driver_info(api, server_id)
    available = {sid for sid, s in snaps.items() if s["status"] == "available"}
    assert set(info.get("snapshots", {})) >= available
    files = set()
    for sid, record in info.get("snapshots", {}).items():
        for path in record["disks"].values():
            assert os.path.exists(path), (sid, path)
            files.add(path)
    chain = lh.backing_chain(lh.active_disks(guest)["vda"])
    files |= set(chain)
    directory = os.path.join(api.state_dir, "libvirt", server_id)
    names = os.listdir(directory) if os.path.isdir(directory) else []
    stray = [f for f in names
             if f.endswith(".qcow2") and os.path.join(directory, f) not in files]
    assert stray == []
    assert guest.fsfreeze_status() == "thawed"
    return snaps


@pytest.mark.parametrize("delay", [0.0, 0.08])
def test_kill_9_during_create_leaves_a_consistent_thawed_guest_after_restart(
        own_api, make_guest, delay):
    guest = make_guest(disks=1)
    srv = lh.adopt(own_api, guest)
    a = guest.write_random("/data/f", 256 * KIB)
    resp = own_api.request("POST", f"/v1/servers/{srv['id']}/snapshots",
                           token=lh.ADMIN, json={"snapshot": {"name": "cut"}})
    assert resp.status_code == 202
    snap_id = resp.json()["snapshot"]["id"]
    _restart(own_api, delay)

    snaps = _assert_database_and_libvirt_agree(own_api, guest, srv["id"])
    assert snaps[snap_id]["status"] in ("available", "error")
    if snaps[snap_id]["status"] == "error":
        assert "interrupted" in snaps[snap_id]["fault"]["message"]
    assert guest.sha256("/data/f") == a
    # The server takes new work, and a snapshot taken now reverts exactly.
    s2 = lh.snapshot(own_api, srv["id"], name="after")
    guest.write_random("/data/f", 64 * KIB)
    lh.revert(own_api, srv["id"], s2["id"])
    guest.wait_for_agent(timeout=60)
    assert guest.sha256("/data/f") == a


@pytest.mark.parametrize("delay", [0.0, 0.1])
def test_kill_9_during_delete_keeps_every_other_snapshot_exact_after_restart(
        own_api, make_guest, delay):
    guest = make_guest(disks=1)
    srv = lh.adopt(own_api, guest)
    guest.write_random("/data/f", 64 * KIB)
    s1 = lh.snapshot(own_api, srv["id"], name="s1")
    b = guest.write_random("/data/f", 1024 * KIB)
    s2 = lh.snapshot(own_api, srv["id"], name="s2")
    c = guest.write_random("/data/f", 64 * KIB)
    resp = own_api.request("DELETE", f"/v1/servers/{srv['id']}/snapshots/{s1['id']}",
                           token=lh.ADMIN)
    assert resp.status_code == 202
    _restart(own_api, delay)

    snaps = _assert_database_and_libvirt_agree(own_api, guest, srv["id"])
    assert guest.sha256("/data/f") == c
    if s1["id"] in snaps:
        assert snaps[s1["id"]]["status"] == "error_deleting"
        lh.delete_snapshot(own_api, srv["id"], s1["id"])
    lh.revert(own_api, srv["id"], s2["id"])
    guest.wait_for_agent(timeout=60)
    assert guest.sha256("/data/f") == b
    _assert_database_and_libvirt_agree(own_api, guest, srv["id"])

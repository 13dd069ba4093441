"""Server snapshots that include attached Cinder volumes, on a real guest with a
root disk and two qcow2 volume disks laid out the way Cinder's NFS driver lays
them out (``volume-<id>`` files and a ``volume-<id>.info`` chain record), with
a real cinder-api holding the volume and snapshot records.

What is proved: one freeze covers all three disks; Cinder records each volume
snapshot and ends it ``available``; Cinder's chain record names the new files;
revert restores all three disks (checked inside the guest) without changing
Cinder's view; what Cinder would refuse is refused with 409; a server
snapshot without include_volumes leaves the volumes alone."""

import json
import os

import pytest

from tests import fixtures
from tests.functional import libvirt_helpers as lh

pytest_plugins = ["tests.functional.guest_fixtures", "tests.cinder_fixtures"]

KIB = 1024


@pytest.fixture
def cinder_api(tmp_path, cinder):
    """A libvirt nativesnap-api that calls the test's real Cinder."""
    state = str(tmp_path / "state")
    os.makedirs(state)
    server = fixtures.APIServer(state, fixtures.sqlite_url(state),
                                drivers=("libvirt",),
                                extra_conf=cinder.nativesnap_conf())
    server.manage("db", "sync")
    server.start()
    yield server
    server.stop()


def _info_file(directory, volume_id):
    with open(os.path.join(directory, f"volume-{volume_id}.info")) as f:
        return json.load(f)


def _checksums(guest):
    return {m: guest.sha256(f"{m}/f") for m in ("/data", "/data1", "/data2")}


def _write_all(guest, size=128 * KIB):
    for mountpoint in ("/data", "/data1", "/data2"):
        guest.write_random(f"{mountpoint}/f", size)
    guest.sync()
    return _checksums(guest)


@pytest.fixture
def volume_guest(make_guest, cinder):
    guest = make_guest(disks=3, boot=False)
    directory, volumes = lh.as_cinder_volumes(guest, cinder)
    guest.boot()
    return guest, directory, volumes


def test_snapshot_with_volumes_freezes_once_and_records_every_volume_in_cinder(
        cinder_api, cinder, volume_guest):
    guest, directory, volumes = volume_guest
    token = f"admin:{cinder.project_id}"
    srv = lh.adopt(cinder_api, guest, token=token)
    before = _write_all(guest)
    freezes_before = [e for e, _t in guest.fsfreeze_hook_log() if e == "freeze"]

    snap = lh.snapshot(cinder_api, srv["id"], name="with-volumes", token=token,
                       include_volumes=True)

    # One freeze window for the three disks.
    freezes = [e for e, _t in guest.fsfreeze_hook_log() if e == "freeze"]
    assert len(freezes) == len(freezes_before) + 1
    assert snap["consistency"] == "application" and snap["frozen_ms"] is not None
    recorded = {v["volume_id"]: v["snapshot_id"] for v in snap["volumes"]}
    assert set(recorded) == set(volumes.values())
    for volume_id, cinder_snapshot_id in recorded.items():
        record = cinder.snapshot(cinder_snapshot_id)
        assert record["status"] == "available", record
        assert record["volume_id"] == volume_id
        # The guest now writes a file named as Cinder names it, backed by the
        # volume's previous file by relative name; Cinder's record says so.
        new_file = f"volume-{volume_id}.{cinder_snapshot_id}"
        assert _info_file(directory, volume_id) == {
            "active": new_file, cinder_snapshot_id: new_file}
    active = lh.active_disks(guest)
    for target, volume_id in volumes.items():
        assert active[target] == os.path.join(
            directory, f"volume-{volume_id}.{recorded[volume_id]}")
        assert lh.backing_chain(active[target])[1] == os.path.join(
            directory, f"volume-{volume_id}")
    assert not active["vda"].startswith(directory)

    after = _write_all(guest)
    assert all(after[m] != before[m] for m in before)
    lh.revert(cinder_api, srv["id"], snap["id"], token=token)
    guest.wait_for_agent(timeout=60)
    assert _checksums(guest) == before  # all three disks, inside the guest
    # Cinder's view did not move: same active files, same records.
    for volume_id, cinder_snapshot_id in recorded.items():
        new_file = f"volume-{volume_id}.{cinder_snapshot_id}"
        assert _info_file(directory, volume_id)["active"] == new_file
        assert cinder.snapshot(cinder_snapshot_id)["status"] == "available"
    assert lh.active_disks(guest)["vdb"] == active["vdb"]


def test_volumes_revert_only_to_their_latest_snapshot_and_plain_snapshots_skip_them(
        cinder_api, cinder, volume_guest):
    guest, directory, volumes = volume_guest
    token = f"admin:{cinder.project_id}"
    srv = lh.adopt(cinder_api, guest, token=token)
    _write_all(guest)
    first = lh.snapshot(cinder_api, srv["id"], name="first", token=token,
                        include_volumes=True)
    active = lh.active_disks(guest)

    # Without include_volumes the volumes' files are not touched.
    plain = lh.snapshot(cinder_api, srv["id"], name="plain", token=token)
    assert {v["target"] for v in plain["disks"]} == {"vda"}
    assert plain["volumes"] == []
    now = lh.active_disks(guest)
    assert now["vdb"] == active["vdb"] and now["vdc"] == active["vdc"]
    assert now["vda"] != active["vda"]

    second = lh.snapshot(cinder_api, srv["id"], name="second", token=token,
                         include_volumes=True)
    assert len(second["volumes"]) == 2
    data = _checksums(guest)

    resp = cinder_api.request("POST", f"/v1/servers/{srv['id']}/action", token=token,
                              json={"revert": {"snapshot_id": first["id"]}})
    assert resp.status_code == 409, resp.text
    assert "latest snapshot" in resp.json()["conflictingRequest"]["message"]
    # Refused before anything was touched: guest running, data as it was.
    assert lh.server(cinder_api, srv["id"], token=token)["status"] == "ACTIVE"
    assert _checksums(guest) == data


def test_deleting_a_snapshot_with_volumes_leaves_the_volume_snapshots_to_cinder(
        cinder_api, cinder, volume_guest):
    guest, directory, volumes = volume_guest
    token = f"admin:{cinder.project_id}"
    srv = lh.adopt(cinder_api, guest, token=token)
    _write_all(guest)
    snap = lh.snapshot(cinder_api, srv["id"], name="s", token=token,
                       include_volumes=True)
    active = lh.active_disks(guest)
    root_layers = len(lh.backing_chain(active["vda"]))
    data = _write_all(guest)

    lh.delete_snapshot(cinder_api, srv["id"], snap["id"], token=token)

    # The server's own disk was merged; the volumes' chains are Cinder's and
    # did not move, and Cinder still holds its snapshots.
    now = lh.active_disks(guest)
    assert len(lh.backing_chain(now["vda"])) == root_layers - 1
    for target, volume_id in volumes.items():
        assert now[target] == active[target]
        assert lh.backing_chain(now[target])[1] == os.path.join(
            directory, f"volume-{volume_id}")
    for volume in snap["volumes"]:
        assert cinder.snapshot(volume["snapshot_id"])["status"] == "available"
    assert _checksums(guest) == data

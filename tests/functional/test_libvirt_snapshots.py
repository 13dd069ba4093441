"""The libvirt driver through the HTTP API against real libvirtd and TCG guests:
every revert is checked from inside the guest, by checksums the guest computes."""

import os

import pytest

from tests.functional import libvirt_helpers as lh

pytest_plugins = ["tests.functional.guest_fixtures"]

KIB = 1024


def test_disk_snapshots_revert_back_and_forth_and_the_guest_reads_each_state(
        libvirt_api, make_guest):
    guest = make_guest(disks=1)
    srv = lh.adopt(libvirt_api, guest)
    a = guest.write_random("/data/f", 256 * KIB)
    s1 = lh.snapshot(libvirt_api, srv["id"], name="s1")
    assert s1["consistency"] == "application" and s1["frozen_ms"] is not None
    assert s1["kind"] == "external" and s1["is_current"]
    b = guest.write_random("/data/f", 256 * KIB)
    s2 = lh.snapshot(libvirt_api, srv["id"], name="s2")
    assert s2["parent_id"] == s1["id"]
    c = guest.write_random("/data/f", 256 * KIB)
    assert len({a, b, c}) == 3

    done = lh.revert(libvirt_api, srv["id"], s1["id"])
    assert done["status"] == "ACTIVE"
    guest.wait_for_agent(timeout=60)
    assert guest.sha256("/data/f") == a
    assert lh.snapshots(libvirt_api, srv["id"])[s1["id"]]["is_current"]

    lh.revert(libvirt_api, srv["id"], s2["id"])
    guest.wait_for_agent(timeout=60)
    assert guest.sha256("/data/f") == b


def test_memory_snapshots_revert_resumes_the_guest_with_its_ram_state(
        libvirt_api, make_guest):
    guest = make_guest(disks=1)
    srv = lh.adopt(libvirt_api, guest)
    guest.write_file("/run/ram/marker", b"m1")
    a = guest.write_random("/data/f", 128 * KIB)
    s1 = lh.snapshot(libvirt_api, srv["id"], name="s1", memory=True)
    assert s1["memory"] and s1["consistency"] == "memory"
    assert s1["paused_ms"] is not None
    guest.write_file("/run/ram/marker", b"m2")
    b = guest.write_random("/data/f", 128 * KIB)
    s2 = lh.snapshot(libvirt_api, srv["id"], name="s2", memory=True)
    guest.write_file("/run/ram/marker", b"m3")
    guest.write_random("/data/f", 128 * KIB)

    lh.revert(libvirt_api, srv["id"], s1["id"])
    guest.wait_for_agent(timeout=30)
    # The tmpfs marker lives only in RAM: a boot would have lost it.
    assert guest.read_file("/run/ram/marker") == b"m1"
    assert guest.sha256("/data/f") == a
    lh.revert(libvirt_api, srv["id"], s2["id"])
    guest.wait_for_agent(timeout=30)
    assert guest.read_file("/run/ram/marker") == b"m2"
    assert guest.sha256("/data/f") == b


def test_one_snapshot_covers_three_disks_at_one_instant_and_revert_restores_all(
        libvirt_api, make_guest):
    guest = make_guest(disks=3)
    srv = lh.adopt(libvirt_api, guest)
    before = {m: guest.write_random(f"{m}/f", 64 * KIB)
              for m in ("/data", "/data1", "/data2")}
    s1 = lh.snapshot(libvirt_api, srv["id"], name="all-disks")
    assert sorted(d["target"] for d in s1["disks"]) == ["vda", "vdb", "vdc"]
    for m in before:
        guest.write_random(f"{m}/f", 64 * KIB)
    lh.revert(libvirt_api, srv["id"], s1["id"])
    guest.wait_for_agent(timeout=60)
    assert {m: guest.sha256(f"{m}/f") for m in before} == before


def test_deleting_middle_current_and_oldest_snapshots_keeps_every_other_state_exact(
        libvirt_api, make_guest):
    guest = make_guest(disks=1)
    srv = lh.adopt(libvirt_api, guest)
    sums, snaps = [], []
    for i in range(4):
        sums.append(guest.write_random("/data/f", 64 * KIB))
        snaps.append(lh.snapshot(libvirt_api, srv["id"], name=f"s{i}")["id"])
    guest.write_random("/data/f", 64 * KIB)

    lh.delete_snapshot(libvirt_api, srv["id"], snaps[1])  # a middle one
    lh.delete_snapshot(libvirt_api, srv["id"], snaps[3])  # the current one
    lh.delete_snapshot(libvirt_api, srv["id"], snaps[0])  # the oldest
    # Only s2 is left: its data is exact, and the chain is base + s2's frozen
    # state + the active layer, no longer.
    remaining = lh.snapshots(libvirt_api, srv["id"])
    assert list(remaining) == [snaps[2]]
    active = lh.active_disks(guest)["vda"]
    assert len(lh.backing_chain(active)) <= 2
    lh.revert(libvirt_api, srv["id"], snaps[2])
    guest.wait_for_agent(timeout=60)
    assert guest.sha256("/data/f") == sums[2]


def test_every_remaining_snapshot_reverts_exactly_after_deletes_on_a_branched_tree(
        libvirt_api, make_guest):
    guest = make_guest(disks=1)
    srv = lh.adopt(libvirt_api, guest)
    a = guest.write_random("/data/f", 64 * KIB)
    s1 = lh.snapshot(libvirt_api, srv["id"], name="s1")["id"]
    b = guest.write_random("/data/f", 64 * KIB)
    s2 = lh.snapshot(libvirt_api, srv["id"], name="s2")["id"]
    lh.revert(libvirt_api, srv["id"], s1)  # branch: s3 hangs under s1 too
    guest.wait_for_agent(timeout=60)
    c = guest.write_random("/data/f", 64 * KIB)
    s3 = lh.snapshot(libvirt_api, srv["id"], name="s3")["id"]
    tree = lh.snapshots(libvirt_api, srv["id"])
    assert tree[s3]["parent_id"] == s1 and tree[s2]["parent_id"] == s1

    lh.delete_snapshot(libvirt_api, srv["id"], s1)  # two children rest on it
    for snap_id, expected in ((s2, b), (s3, c)):
        lh.revert(libvirt_api, srv["id"], snap_id)
        guest.wait_for_agent(timeout=60)
        assert guest.sha256("/data/f") == expected
    assert a not in (b, c)


def test_linked_and_full_spawns_boot_and_read_the_snapshot_while_the_source_runs(
        libvirt_api, make_guest, libvirt_conn):
    from tests import guest as guestlib

    guest = make_guest(disks=1)
    srv = lh.adopt(libvirt_api, guest)
    a = guest.write_random("/data/f", 64 * KIB)
    s1 = lh.snapshot(libvirt_api, srv["id"], name="s1")
    guest.write_random("/data/f", 64 * KIB)

    spawned = []
    for linked in (True, False):
        resp = libvirt_api.request("POST", "/v1/servers", token=lh.ADMIN, json={
            "server": {"name": f"clone-{linked}", "snapshot_id": s1["id"],
                       "linked": linked}})
        assert resp.status_code == 202, resp.text
        new = lh.wait_idle(libvirt_api, resp.json()["server"]["id"])
        assert new["status"] == "ACTIVE" and new["origin"] == "spawned"
        assert new["hypervisor_ref"] == new["id"]
        spawned.append(new)
        clone = guestlib.Guest.attach(libvirt_conn, new["hypervisor_ref"])
        clone.wait_for_agent(timeout=60)
        assert clone.sha256("/data/f") == a
    assert lh.server(libvirt_api, srv["id"])["status"] == "ACTIVE"
    assert guest.sha256("/data/f") != a  # the source kept running on its own data

    resp = libvirt_api.request("DELETE",
                               f"/v1/servers/{srv['id']}/snapshots/{s1['id']}",
                               token=lh.ADMIN)
    assert resp.status_code == 409
    assert spawned[0]["id"] in resp.json()["conflictingRequest"]["message"]
    for new in spawned:
        files_dir = os.path.join(libvirt_api.state_dir, "libvirt", new["id"])
        assert os.path.isdir(files_dir)
        resp = libvirt_api.request("DELETE", f"/v1/servers/{new['id']}",
                                   token=lh.ADMIN)
        assert resp.status_code == 204
        assert not os.path.exists(files_dir)
        assert guestlib.Guest.attach(libvirt_conn, new["hypervisor_ref"]) is None
    lh.delete_snapshot(libvirt_api, srv["id"], s1["id"])


def test_export_writes_an_image_equal_to_the_snapshot_disk_state(
        libvirt_api, make_guest):
    import subprocess

    guest = make_guest(disks=1)
    srv = lh.adopt(libvirt_api, guest)
    guest.write_random("/data/f", 64 * KIB)
    s1 = lh.snapshot(libvirt_api, srv["id"], name="s1")
    guest.write_random("/data/f", 64 * KIB)
    resp = libvirt_api.request(
        "POST", f"/v1/servers/{srv['id']}/snapshots/{s1['id']}/action",
        token=lh.ADMIN, json={"export": {"image_name": "exported <&>"}})
    assert resp.status_code == 202, resp.text
    image_id = resp.json()["image"]["id"]
    lh.wait_idle(libvirt_api, srv["id"])
    shown = libvirt_api.request(
        "GET", f"/v1/servers/{srv['id']}/snapshots/{s1['id']}", token=lh.ADMIN,
        headers={"OpenStack-API-Version": "snapshot 1.1"}).json()["snapshot"]
    image = {i["id"]: i for i in shown["images"]}[image_id]
    assert image["status"] == "active" and image["sha256"] and image["size_bytes"]
    path = image["location"][len("file://"):]
    assert os.path.basename(path) == f"{image_id}.qcow2"
    frozen = lh.driver_info(libvirt_api, srv["id"])["snapshots"][s1["id"]]["disks"]["vda"]
    compare = subprocess.run(["qemu-img", "compare", "-U", path, frozen],
                             capture_output=True, text=True, timeout=120)
    assert compare.returncode == 0, compare.stdout + compare.stderr


def test_quiesce_required_without_agent_answers_409_and_preferred_falls_back_to_crash(
        libvirt_api, make_guest):
    guest = make_guest(disks=1)
    srv = lh.adopt(libvirt_api, guest)
    guest.stop_agent()
    files_before = sorted(os.listdir(os.path.join(libvirt_api.state_dir, "libvirt",
                                                  srv["id"]))) if os.path.isdir(
        os.path.join(libvirt_api.state_dir, "libvirt", srv["id"])) else []
    resp = libvirt_api.request("POST", f"/v1/servers/{srv['id']}/snapshots",
                               token=lh.ADMIN,
                               json={"snapshot": {"name": "q", "quiesce": "required"}})
    assert resp.status_code == 409, resp.text
    assert "agent" in resp.json()["conflictingRequest"]["message"]
    assert lh.server(libvirt_api, srv["id"])["status"] == "ACTIVE"
    assert lh.snapshots(libvirt_api, srv["id"]) == {}
    files_after = sorted(os.listdir(os.path.join(libvirt_api.state_dir, "libvirt",
                                                 srv["id"]))) if os.path.isdir(
        os.path.join(libvirt_api.state_dir, "libvirt", srv["id"])) else []
    assert files_after == files_before
    assert len(lh.backing_chain(lh.active_disks(guest)["vda"])) == 1

    snap = lh.snapshot(libvirt_api, srv["id"], name="p", quiesce="preferred")
    assert snap["consistency"] == "crash" and snap["frozen_ms"] is None


def test_internal_memory_snapshot_with_xml_characters_in_its_name_round_trips(
        libvirt_api, make_guest):
    guest = make_guest(disks=1)
    srv = lh.adopt(libvirt_api, guest)
    name = "<snap & \"quotes\" 'too'>"
    a = guest.write_random("/data/f", 64 * KIB)
    guest.write_file("/run/ram/marker", b"internal")
    snap = lh.snapshot(libvirt_api, srv["id"], name=name, kind="internal",
                       memory=True, quiesce="off")
    assert snap["name"] == name and snap["kind"] == "internal"
    xml = guest.lookup().snapshotLookupByName(snap["id"], 0).getXMLDesc(0)
    assert "&lt;snap &amp; " in xml
    guest.write_random("/data/f", 64 * KIB)
    guest.write_file("/run/ram/marker", b"later")
    lh.revert(libvirt_api, srv["id"], snap["id"])
    guest.wait_for_agent(timeout=60)
    assert guest.read_file("/run/ram/marker") == b"internal"
    assert guest.sha256("/data/f") == a


def test_reverting_to_another_servers_snapshot_answers_400_and_changes_nothing(
        libvirt_api, make_guest):
    one, two = make_guest(disks=1), make_guest(disks=1)
    srv1, srv2 = lh.adopt(libvirt_api, one), lh.adopt(libvirt_api, two)
    snap = lh.snapshot(libvirt_api, srv2["id"], name="theirs")
    resp = libvirt_api.request("POST", f"/v1/servers/{srv1['id']}/action",
                               token=lh.ADMIN,
                               json={"revert": {"snapshot_id": snap["id"]}})
    assert resp.status_code == 400
    assert srv1["id"] in resp.json()["badRequest"]["message"]
    assert lh.server(libvirt_api, srv1["id"])["task_state"] is None
    assert lh.snapshots(libvirt_api, srv2["id"])[snap["id"]]["is_current"]


def test_a_transient_domain_reverts_and_keeps_running_on_the_snapshot_state(
        libvirt_api, make_guest):
    guest = make_guest(disks=1)
    guest.domain.undefine()  # still running, but now transient
    assert not guest.lookup().isPersistent()
    srv = lh.adopt(libvirt_api, guest)
    a = guest.write_random("/data/f", 64 * KIB)
    s1 = lh.snapshot(libvirt_api, srv["id"], name="s1")
    guest.write_random("/data/f", 64 * KIB)
    done = lh.revert(libvirt_api, srv["id"], s1["id"])
    assert done["status"] == "ACTIVE"
    guest.domain = guest.lookup()
    guest.wait_for_agent(timeout=60)
    assert guest.sha256("/data/f") == a

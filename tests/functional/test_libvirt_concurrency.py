"""Concurrency on real guests (the fake-driver version with many more rounds is
test_concurrency.py): a burst of mixed mutations on one libvirt server runs
exactly one task and leaves its disk chain and data intact; ten real servers
snapshotted at once all succeed."""

import collections
import concurrent.futures
import os
import subprocess
import threading

import pytest

from tests import fixtures
from tests.functional import libvirt_helpers as lh

pytest_plugins = ["tests.functional.guest_fixtures"]

KIB = 1024
BURST = 20
# Each task is held 2 s before its driver work (a real export of the tiny
# guest takes ~0.1 s), so the whole burst meets a running task, as in
# test_concurrency.py, whatever the machine's load.
HOLD = ",".join(f"manager.{op}.before_driver=sleep:2"
                for op in ("create", "delete", "revert", "export"))


@pytest.fixture
def held_api(tmp_path):
    state = str(tmp_path / "state")
    os.makedirs(state)
    server = fixtures.APIServer(state, fixtures.sqlite_url(state),
                                drivers=("libvirt",),
                                extra_conf={"fault_injection": {"failpoints": HOLD}})
    server.manage("db", "sync")
    server.start()
    yield server
    server.stop()


def _requests(server_id, base_id, second_id):
    """(kind, method, path, body) of the burst: every kind of mutation."""
    snaps = f"/v1/servers/{server_id}/snapshots"
    kinds = [
        ("create", "POST", snaps, {"snapshot": {"name": "burst"}}),
        ("delete", "DELETE", f"{snaps}/{second_id}", None),
        ("revert", "POST", f"/v1/servers/{server_id}/action",
         {"revert": {"snapshot_id": base_id}}),
        ("export", "POST", f"{snaps}/{base_id}/action",
         {"export": {"image_name": "burst", "disk_format": "qcow2"}}),
    ]
    return [kinds[i % len(kinds)] for i in range(BURST)]


def _qemu_img_check(path):
    done = subprocess.run(["qemu-img", "check", "-U", path], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, (path, done.stdout, done.stderr)


def test_a_burst_of_mixed_mutations_on_a_real_guest_runs_one_task_and_keeps_its_chain(
        held_api, make_guest):
    libvirt_api = held_api
    guest = make_guest(disks=1)
    srv = lh.adopt(libvirt_api, guest)
    at_base = guest.write_random("/data/f", 128 * KIB)
    base = lh.snapshot(libvirt_api, srv["id"], name="base")
    at_second = guest.write_random("/data/f", 128 * KIB)
    second = lh.snapshot(libvirt_api, srv["id"], name="second")

    barrier = threading.Barrier(BURST)

    def send(request):
        kind, method, path, body = request
        barrier.wait(timeout=30)
        return kind, libvirt_api.request(method, path, json=body, timeout=60)

    with concurrent.futures.ThreadPoolExecutor(BURST) as pool:
        answers = list(pool.map(send, _requests(srv["id"], base["id"], second["id"])))
    codes = collections.Counter(resp.status_code for _kind, resp in answers)
    assert codes == {202: 1, 409: BURST - 1}, [(k, r.status_code, r.text[:200])
                                               for k, r in answers]
    (winner,) = [kind for kind, resp in answers if resp.status_code == 202]
    for _kind, resp in answers:
        if resp.status_code == 409:
            message = resp.json()["conflictingRequest"]["message"]
            # Busy with the winner's task, lost the compare-and-swap to it, or
            # (a delete of the snapshot the winning delete took) "is deleting".
            assert any(words in message for words in (
                "busy with task", "changed under", "is deleting")), message

    done = lh.wait_idle(libvirt_api, srv["id"])
    assert done["fault"] is None and done["status"] == "ACTIVE", done
    snaps = lh.snapshots(libvirt_api, srv["id"])
    assert all(s["status"] == "available" for s in snaps.values()), snaps
    expected = {"create": {base["id"], second["id"]}, "delete": {base["id"]},
                "revert": {base["id"], second["id"]},
                "export": {base["id"], second["id"]}}[winner]
    assert expected <= set(snaps) and len(snaps) == len(expected) + (winner == "create")

    # The chain is whole: every layer the domain runs on and every recorded
    # frozen file is a valid qcow2, and the guest reads what the winner implies.
    chain = lh.backing_chain(lh.active_disks(guest)["vda"])
    for path in chain:
        _qemu_img_check(path)
    for record in lh.driver_info(libvirt_api, srv["id"])["snapshots"].values():
        for path in record["disks"].values():
            assert os.path.exists(path)
            _qemu_img_check(path)
    guest.wait_for_agent(timeout=60)
    assert guest.sha256("/data/f") == (at_base if winner == "revert" else at_second)


def test_ten_real_servers_snapshotted_at_once_all_succeed(libvirt_api, make_guest):
    # Started all at once and then waited for: the boots overlap.
    guests = [make_guest(disks=1, boot=False) for _ in range(10)]
    for guest in guests:
        guest.define().create()
    for guest in guests:
        guest.wait_for_agent(timeout=180)
    servers = [lh.adopt(libvirt_api, g) for g in guests]
    written = [g.write_random("/data/f", 64 * KIB) for g in guests]
    barrier = threading.Barrier(len(servers))

    def create(server):
        barrier.wait(timeout=30)
        return libvirt_api.request("POST", f"/v1/servers/{server['id']}/snapshots",
                                   json={"snapshot": {"name": "together"}},
                                   timeout=60)

    with concurrent.futures.ThreadPoolExecutor(len(servers)) as pool:
        answers = list(pool.map(create, servers))
    assert [r.status_code for r in answers] == [202] * len(servers), \
        [r.text[:200] for r in answers]
    for guest, server, answer, data in zip(guests, servers, answers, written):
        lh.wait_idle(libvirt_api, server["id"], timeout=180)
        snap_id = answer.json()["snapshot"]["id"]
        snap = lh.snapshots(libvirt_api, server["id"])[snap_id]
        assert snap["status"] == "available" and snap["is_current"], snap
        # Each guest now writes to its own new overlay on the frozen file the
        # snapshot records (reverts are proved in test_libvirt_snapshots.py).
        frozen = lh.driver_info(libvirt_api, server["id"])["snapshots"][snap_id]
        chain = lh.backing_chain(lh.active_disks(guest)["vda"])
        assert chain[1] == frozen["disks"]["vda"]
        for path in chain:
            _qemu_img_check(path)
        assert guest.sha256("/data/f") == data

"""Cinder's assisted volume snapshots at the same time, with the real peers:
python-novaclient's ``assisted_volume_snapshots`` as Cinder calls it, a real
cinder-api for the callbacks, real TCG guests with two and three volume disks.

An assisted operation takes no server lock: Cinder snapshots several volumes
of one server at once and expects every one to succeed, as with Nova. The
compute service runs one driver operation per server at a time, in arrival
order, each waiting a bounded time for its turn (docs/cinder.md), so the
data in every volume is right inside the guest, every chain is as Cinder
keeps it, and the guest is never frozen twice at once.
"""

import os
import signal
import subprocess
import threading

from novaclient import exceptions as nova_exc
import pytest

from tests.functional import libvirt_helpers as lh
from tests.functional.assisted_volume_helpers import (
    admin_token,
    chain_names,
    cinder_deleting,
    make_api,
    nova,
    operations,
    read_region,
    start_api,
    Volume,
    volume_guest,
    wait_cinder,
    wait_operation,
    write_region)

pytest_plugins = ["tests.functional.guest_fixtures", "tests.cinder_fixtures"]

BARRIER_TIMEOUT = 30


@pytest.fixture(scope="module")
def avs_api(tmp_path_factory, cinder):
    api = start_api(tmp_path_factory, cinder, "api-avs-concurrent")
    yield api
    api.stop()


def at_once(*calls):
    """Run the calls in threads released together; their results, in order.
    An exception in one is raised after all have ended."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        barrier.wait(BARRIER_TIMEOUT)
        try:
            results[index] = ("ok", call())
        except Exception as e:  # reported below, after every call ended
            results[index] = ("error", e)

    threads = [threading.Thread(target=run, args=(i, c), daemon=True)
               for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(t.is_alive() for t in threads), "a call did not return"
    for state, value in results:
        if state == "error":
            raise value
    return [value for _state, value in results]


def create(client, volume):
    """Cinder's create: the new overlay, then the request; (snapshot, file)."""
    snapshot_id, new_file = volume.new_overlay()
    return snapshot_id, new_file, lambda: client.assisted_volume_snapshots.create(
        volume.id, {"snapshot_id": snapshot_id, "type": "qcow2",
                    "new_file": new_file})


def created(cinder, volume, snapshot_id, new_file):
    wait_cinder(cinder, snapshot_id, "creating")
    volume.snapshotted(snapshot_id, new_file)


def delete(client, cinder, volume, snapshot_id):
    """Cinder's delete: (the file it removes afterwards, the request)."""
    plan, gone = volume.delete_plan(snapshot_id)
    cinder_deleting(cinder, snapshot_id)
    return gone, lambda: client.assisted_volume_snapshots.delete(snapshot_id, plan)


def check_volume(guest, volume, data):
    assert volume.disk_source() == volume.active
    chain = chain_names(volume.active)
    assert chain[0] == volume.info["active"]
    assert_guest_reads_on(guest, volume, data)
    return chain


def assert_guest_reads_on(guest, volume, data):
    assert {i: read_region(guest, i, volume.dev) for i in data} == data


def qemu_img_check(path):
    done = subprocess.run(["qemu-img", "check", "-U", path], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


# --- two volumes of one server ---------------------------------------------------


def test_creates_and_deletes_on_two_volumes_of_one_server_at_once_all_succeed(
        avs_api, cinder, make_guest):
    guest = volume_guest(make_guest, cinder, volumes=2)
    lh.adopt(avs_api, guest)
    client = nova(avs_api, admin_token(cinder))
    vols = [Volume(cinder, guest, 1), Volume(cinder, guest, 2)]
    data = [{0: write_region(guest, 0, v.dev)} for v in vols]

    # Two rounds of two creates at once: each volume gets two snapshots.
    for round_ in (1, 2):
        planned = [create(client, v) for v in vols]
        at_once(*(call for _sid, _file, call in planned))
        for volume, (sid, new_file, _call) in zip(vols, planned):
            created(cinder, volume, sid, new_file)
        for index, volume in enumerate(vols):
            data[index][round_] = write_region(guest, round_, volume.dev)
    for index, volume in enumerate(vols):
        assert len(check_volume(guest, volume, data[index])) == 3

    # Two deletes at once: the older snapshot of the first volume (a commit),
    # the newer of the second (a pull into its active file).
    first, second = vols
    older = next(k for k, v in first.info.items()
                 if k != "active" and v != first.info["active"])
    newer = next(k for k, v in second.info.items()
                 if k != "active" and v == second.info["active"])
    gone_1, call_1 = delete(client, cinder, first, older)
    gone_2, call_2 = delete(client, cinder, second, newer)
    at_once(call_1, call_2)
    wait_cinder(cinder, older, "deleting")
    wait_cinder(cinder, newer, "deleting")
    assert wait_operation(avs_api, cinder, first.id, older, "delete")[
        "files"]["method"] == "commit"
    assert wait_operation(avs_api, cinder, second.id, newer, "delete")[
        "files"]["method"] == "pull"
    os.unlink(first.path(gone_1))
    os.unlink(second.path(gone_2))
    for index, volume in enumerate(vols):
        assert len(check_volume(guest, volume, data[index])) == 2

    # A create on one volume racing a delete on the other.
    sid, new_file, create_call = create(client, first)
    remaining = next(k for k in second.info if k != "active")
    gone, delete_call = delete(client, cinder, second, remaining)
    at_once(create_call, delete_call)
    created(cinder, first, sid, new_file)
    wait_cinder(cinder, remaining, "deleting")
    os.unlink(second.path(gone))
    assert len(check_volume(guest, first, data[0])) == 3
    assert len(check_volume(guest, second, data[1])) == 1
    assert guest.lookup().isActive()


def test_a_server_snapshot_with_volumes_racing_an_assisted_create_both_succeed(
        avs_api, cinder, make_guest):
    guest = volume_guest(make_guest, cinder, volumes=1)
    token = admin_token(cinder)  # the server in the volume's project
    server = lh.adopt(avs_api, guest, token=token)
    client = nova(avs_api, token)
    volume = Volume(cinder, guest, 1)
    data = {0: write_region(guest, 0, volume.dev)}
    root = guest.write_random("/data/f", 64 * 1024)
    before = len(guest.fsfreeze_hook_log())

    sid, new_file, cinder_call = create(client, volume)

    def server_snapshot():
        resp = avs_api.request("POST", f"/v1/servers/{server['id']}/snapshots",
                               token=token, json={"snapshot": {
                                   "name": "with-volumes",
                                   "include_volumes": True}})
        assert resp.status_code == 202, resp.text
        return resp.json()["snapshot"]["id"]

    _answer, snap_id = at_once(cinder_call, server_snapshot)
    wait_cinder(cinder, sid, "creating")
    lh.wait_idle(avs_api, server["id"], token=token)
    snap = lh.snapshots(avs_api, server["id"], token=token)[snap_id]
    assert snap["status"] == "available", snap
    [included] = snap["volumes"]
    assert cinder.snapshot(included["snapshot_id"])["status"] == "available"
    # Whichever went first, the volume now writes Cinder's new file, whose
    # chain holds both snapshots' files.
    assert volume.disk_source() == volume.path(new_file)
    chain = chain_names(volume.disk_source())
    assert chain[0] == new_file and chain[-1] == f"volume-{volume.id}"
    assert len(chain) == 3
    data[1] = write_region(guest, 1, volume.dev)
    assert_guest_reads_on(guest, volume, data)
    assert guest.sha256("/data/f") == root
    # The guest was frozen once for each, never twice at once.
    log = [event for event, _t in guest.fsfreeze_hook_log()[before:]]
    assert log == ["freeze", "thaw", "freeze", "thaw"], log


def test_ten_assisted_creates_on_three_volumes_in_a_burst_all_succeed(
        avs_api, cinder, make_guest):
    guest = volume_guest(make_guest, cinder, volumes=3)
    lh.adopt(avs_api, guest)
    client = nova(avs_api, admin_token(cinder))
    vols = [Volume(cinder, guest, i) for i in (1, 2, 3)]
    counts = (4, 3, 3)

    def snapshots_of(volume, count):
        # Cinder takes one volume's snapshots one after the other.
        def run():
            for _ in range(count):
                sid, new_file, call = create(client, volume)
                call()
                created(cinder, volume, sid, new_file)
        return run

    at_once(*(snapshots_of(v, n) for v, n in zip(vols, counts)))
    for volume, count in zip(vols, counts):
        chain = chain_names(volume.disk_source())
        assert len(chain) == count + 1, chain
        for name in chain:
            qemu_img_check(volume.path(name))
    assert guest.lookup().isActive()


def test_a_request_with_cinder_s_placeholder_token_answers_401_saying_what_to_send(
        avs_api, cinder):
    client = nova(avs_api, "notused")
    with pytest.raises(nova_exc.Unauthorized) as info:
        client.assisted_volume_snapshots.create(
            "0b1a4c8e-7f0e-4c38-9a55-9d5f4f1e2c3a",
            {"snapshot_id": "1b1a4c8e-7f0e-4c38-9a55-9d5f4f1e2c3a",
             "type": "qcow2", "new_file": "volume-x"})
    message = str(info.value)
    assert "'<user>:<project>'" in message
    assert "auth_type = admin_token" in message and "token = admin:" in message


# --- waits that run out, and a kill ---------------------------------------------


HOLD = "manager.assisted.before_driver=sleep:30@1"


@pytest.fixture
def held_api(tmp_path, cinder):
    """held_api(hold=True): a service whose first assisted operation holds
    its server's turn for 30 s once recorded running (with ``hold``); queued
    ones wait at most 2 s. Started again with the same state and database,
    it is the same service restarted."""
    made = []

    def make(hold=True):
        extra = {"cinder": {"volume_operation_wait": "2"}}
        if hold:
            extra["fault_injection"] = {"failpoints": HOLD}
        api = make_api(str(tmp_path / "state"), cinder, extra)
        if not made:
            os.makedirs(api.state_dir, exist_ok=True)
            api.manage("db", "sync")
        made.append(api)
        return api.start()

    os.makedirs(tmp_path / "state")
    yield make
    for api in made:
        api.kill()


def test_a_queued_operation_whose_wait_runs_out_tells_cinder_error_why(
        held_api, cinder, make_guest):
    api = held_api()
    guest = volume_guest(make_guest, cinder, volumes=2)
    lh.adopt(api, guest)
    client = nova(api, admin_token(cinder))
    first, second = Volume(cinder, guest, 1), Volume(cinder, guest, 2)
    sid_1, file_1, call_1 = create(client, first)
    call_1()  # holds the turn, 30 s
    wait_operation_running(api, cinder, first.id, sid_1)
    sid_2, _file_2, call_2 = create(client, second)
    call_2()
    failed = wait_operation(api, cinder, second.id, sid_2, "create")
    assert failed["status"] == "failed"
    message = failed["fault"]["message"]
    assert "waited 2 s for its turn" in message
    assert "volume_snapshot_create" in message, message
    wait_cinder(cinder, sid_2, "error")
    assert second.disk_source() == second.active  # nothing was done to it
    # The held one ends (the failpoint fires once); then the turn is free.
    created(cinder, first, sid_1, file_1)
    sid_3, file_3, call_3 = create(client, second)
    call_3()
    created(cinder, second, sid_3, file_3)
    assert second.disk_source() == second.path(file_3)


def wait_operation_running(api, cinder, volume_id, snapshot_id):
    api.wait_for(lambda: any(
        op["snapshot_id"] == snapshot_id and op["status"] == "running"
        for op in operations(api, cinder, volume_id=volume_id)),
        timeout=60, interval=0.1, what="the operation to be running")


def test_a_kill_with_one_operation_running_and_one_queued_ends_both_at_restart(
        held_api, cinder, make_guest):
    api = held_api()
    guest = volume_guest(make_guest, cinder, volumes=2)
    server = lh.adopt(api, guest)
    client = nova(api, admin_token(cinder))
    first, second = Volume(cinder, guest, 1), Volume(cinder, guest, 2)
    sid_1, _file_1, call_1 = create(client, first)
    call_1()
    wait_operation_running(api, cinder, first.id, sid_1)
    sid_2, _file_2, call_2 = create(client, second)
    call_2()
    api.proc.send_signal(signal.SIGKILL)
    api.proc.wait(30)

    # Started again without the failpoint: start-up recovery ends both.
    api = held_api(hold=False)
    client = nova(api, admin_token(cinder))
    running = wait_operation(api, cinder, first.id, sid_1, "create")
    queued = wait_operation(api, cinder, second.id, sid_2, "create")
    assert (running["status"], queued["status"]) == ("failed", "failed")
    assert "restart" in running["fault"]["message"]
    assert queued["fault"]["message"] == (
        "interrupted by a restart of the service before it started; nothing "
        "was done to the volume")
    wait_cinder(cinder, sid_1, "error")
    wait_cinder(cinder, sid_2, "error")
    assert lh.server(api, server["id"])["task_state"] is None
    assert first.disk_source() == first.active
    assert second.disk_source() == second.active
    # Nothing holds the server: the next one runs.
    sid_3, file_3, call_3 = create(client, first)
    call_3()
    created(cinder, first, sid_3, file_3)

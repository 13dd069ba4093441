"""The vSphere driver when things go wrong, against the vCenter API simulator:
a wrong password; vCenter down before a call, hung (SIGSTOP) or killed while
CreateSnapshot_Task is in flight; the service killed while a snapshot is being
recorded; a snapshot removed in vCenter while the service was down. Nothing
hangs past its bound (docs/vmware.md), nothing stays ``creating``, and every
fault says what happened."""

import os
import re
import signal
import time

import pytest

from tests import fixtures
from tests.functional import helpers as h
from tests.functional.vmware_helpers import ADMIN
from tests.functional.vmware_helpers import adopt
from tests.functional.vmware_helpers import delete_snapshot
from tests.functional.vmware_helpers import nativesnap_tree
from tests.functional.vmware_helpers import server
from tests.functional.vmware_helpers import snapshot
from tests.functional.vmware_helpers import snapshots
from tests.functional.vmware_helpers import vcenter_tree
from tests.functional.vmware_helpers import vm_of
from tests.functional.vmware_helpers import vmware_conf
from tests.functional.vmware_helpers import wait_idle
from tests.functional.vmware_helpers import wait_task

pytest_plugins = ["tests.vcsim_fixtures"]

VM = "DC0_H0_VM0"
OTHER_VM = "DC0_H0_VM1"
POOL_VM = "DC0_C0_RP0_VM0"


@pytest.fixture
def service(vcsim, tmp_path):
    """service(**conf): nativesnap-api with the vSphere driver, on one state
    directory and database for the whole test (a second call is the same
    service started again, with that configuration)."""
    state = str(tmp_path / "state")
    started = []

    def start(vmware=None, **sections):
        extra = {"vmware": vmware_conf(vcsim, **(vmware or {})),
                 "DEFAULT": {"status_sync_interval": "1"}}
        extra.update(sections)
        api = fixtures.APIServer(state, fixtures.sqlite_url(state),
                                 drivers=("vmware",), extra_conf=extra)
        if not started:
            api.manage("db", "sync")
        started.append(api)
        return api.start()

    tmp_path.joinpath("state").mkdir()
    yield start
    for api in started:
        api.kill()


def test_a_wrong_password_leaves_the_service_up_and_its_servers_error(
        vcsim, service):
    api = service()
    srv = adopt(api, f"DC0/vm/{VM}")
    api.stop()
    api = service(vmware={"password": "not-the-password"})
    log = api.read_log()
    assert "The vmware driver could not start" in log
    assert "refused user 'nativesnap@vsphere.local'" in log
    assert "not-the-password" not in log and vcsim.password not in log
    shown = api.wait_for(lambda: (lambda s: s if s["status"] == "ERROR"
                                  else None)(server(api, srv["id"])),
                         timeout=10, what="the server shown ERROR")
    assert shown["fault"]["code"] == 503
    assert "vmware driver could not start" in shown["fault"]["message"]
    resp = api.request("POST", f"/v1/servers/{srv['id']}/snapshots", token=ADMIN,
                       json={"snapshot": {"name": "refused"}})
    h.assert_fault(resp, 503, "could not start", "refused user")
    assert snapshots(api, srv["id"]) == {}


def test_vcenter_down_before_the_driver_calls_fails_the_snapshot_saying_it_refused(
        vcsim, service):
    api = service(fault_injection={
        "failpoints": "manager.create.before_driver=sleep:1.5@1"})
    srv = adopt(api, f"DC0/vm/{VM}")
    resp = api.request("POST", f"/v1/servers/{srv['id']}/snapshots",
                       token=ADMIN, json={"snapshot": {"name": "cut"}})
    assert resp.status_code == 202, resp.text
    vcsim.stop()  # before the driver's first call to vCenter
    try:
        done = wait_idle(api, srv["id"])
        snap = snapshots(api, srv["id"])[resp.json()["snapshot"]["id"]]
        assert snap["status"] == "error", snap
        assert "vCenter refused the connection" in snap["fault"]["message"]
        assert "Connection refused" in snap["fault"]["message"]
        assert done["task_state"] is None
    finally:
        vcsim.start()
    # vCenter came back with its sessions forgotten: the driver logs in again.
    resp = api.request("POST", f"/v1/servers/{srv['id']}/snapshots",
                       token=ADMIN, json={"snapshot": {"name": "after"}})
    assert resp.status_code == 202, resp.text
    wait_idle(api, srv["id"])
    after = snapshots(api, srv["id"])[resp.json()["snapshot"]["id"]]
    assert after["status"] == "available", after
    assert "session expired; logging in again" in api.read_log()


# Stopping vCenter while CreateSnapshot_Task is in flight: the simulator holds
# the call (its per-method delay, tests/vcsim_fixtures.py) and traces it, so the
# test stops it once the request has reached it.
TASK_TIMEOUT = 2
CONNECT_TIMEOUT = 5  # longer than the task's bound: task_timeout must end the call
SLACK = 2.5  # the API's records and this test's polling
_SOAP_METHOD = re.compile(rb'<(?:\w+:)?(\w+) xmlns="urn:vim25">')


def _start_create_and_wait_until_in_flight(api, vcsim, srv, name):
    """POST a snapshot; return (its id, when it was posted) once the
    simulator has received its CreateSnapshot_Task."""
    mark = os.path.getsize(vcsim.log_path)
    posted = time.monotonic()
    resp = api.request("POST", f"/v1/servers/{srv['id']}/snapshots",
                       token=ADMIN, json={"snapshot": {"name": name}})
    assert resp.status_code == 202, resp.text

    def received():
        with open(vcsim.log_path, "rb") as f:
            f.seek(mark)
            return b"CreateSnapshot_Task" in _SOAP_METHOD.findall(f.read())

    api.wait_for(received, timeout=15, interval=0.01,
                 what="CreateSnapshot_Task to reach the simulator")
    return resp.json()["snapshot"]["id"], posted


def _status_of(api, srv, sid, status):
    return lambda: (lambda s: s if s["status"] == status else None)(
        snapshots(api, srv["id"])[sid])


def test_vcenter_hung_mid_create_fails_the_snapshot_at_task_timeout_saying_it_did_not_answer(
        vcsim, service):
    vcsim.restart(method_delay={"CreateSnapshot_Task": 1000}, trace=True)
    try:
        api = service(vmware={"task_timeout": str(TASK_TIMEOUT),
                              "connect_timeout": str(CONNECT_TIMEOUT)})
        srv = adopt(api, f"DC0/vm/{VM}")
        sid, posted = _start_create_and_wait_until_in_flight(
            api, vcsim, srv, "hung")
        vcsim.proc.send_signal(signal.SIGSTOP)  # a hung vCenter: no answer
        try:
            snap = api.wait_for(_status_of(api, srv, sid, "error"),
                                timeout=TASK_TIMEOUT + 10,
                                what="the snapshot marked error")
            failed_after = time.monotonic() - posted
            assert TASK_TIMEOUT <= failed_after <= TASK_TIMEOUT + SLACK
            message = snap["fault"]["message"]
            assert (f"failed to create the snapshot: vCenter did not answer "
                    f"within {TASK_TIMEOUT} s ([vmware] task_timeout)") in message
            assert "the call is not repeated, its effect is unknown" in message
            # The lock is released while vCenter is still silent, after the
            # server's state is read once more (bounded by connect_timeout).
            done = wait_idle(api, srv["id"])
            assert (time.monotonic() - posted
                    <= TASK_TIMEOUT + CONNECT_TIMEOUT + SLACK)
            assert done["task_state"] is None and done["status"] == "ACTIVE"
        finally:
            vcsim.proc.send_signal(signal.SIGCONT)
        after = snapshot(api, srv["id"], "after")  # vCenter answers again
        # The unanswered call was served once vCenter resumed: its snapshot,
        # named with the failed one's id, is removed with the failed record.
        vm = vm_of(vcsim.connect(), VM)
        assert set(vcenter_tree(vm)) == {sid, after["id"]}
        delete_snapshot(api, srv["id"], sid)
        assert vcenter_tree(vm) == {after["id"]: (None, True)}
        assert nativesnap_tree(api, srv["id"]) == vcenter_tree(vm)
    finally:
        vcsim.restart(method_delay={}, trace=False)


def test_vcenter_killed_mid_create_fails_the_snapshot_at_once_saying_it_closed_the_connection(
        vcsim, service):
    vcsim.restart(method_delay={"CreateSnapshot_Task": 60000}, trace=True)
    try:
        api = service()  # [vmware] task_timeout 30 s
        srv = adopt(api, f"DC0/vm/{VM}")
        sid, posted = _start_create_and_wait_until_in_flight(
            api, vcsim, srv, "killed")
        vcsim.stop(kill=True)  # a dead vCenter: the connection closes
        snap = api.wait_for(_status_of(api, srv, sid, "error"), timeout=10,
                            what="the snapshot marked error")
        assert time.monotonic() - posted <= 2 * SLACK  # not task_timeout (30 s)
        message = snap["fault"]["message"]
        assert ("failed to create the snapshot: vCenter closed the connection "
                "without answering") in message
        assert "the call is not repeated, its effect is unknown" in message
        # The state read after the failure meets refused connections, repeated
        # [vmware] api_retry_count (2) times: 0.5 + 1 s.
        done = wait_idle(api, srv["id"])
        assert time.monotonic() - posted <= 1.5 + 2 * SLACK
        assert done["task_state"] is None
        vcsim.start(method_delay={}, trace=False)
        after = snapshot(api, srv["id"], "after")
        assert vcenter_tree(vm_of(vcsim.connect(), VM)) == {
            after["id"]: (None, True)}
    finally:
        vcsim.restart(method_delay={}, trace=False)


def test_a_kill_while_a_snapshot_is_recorded_is_reconciled_against_vcenter(
        vcsim, service):
    failpoint = "manager.create.before_db_save"
    api = service(fault_injection={"failpoints": f"{failpoint}=sleep:30@1"})
    srv = adopt(api, f"DC0/vm/{OTHER_VM}")
    resp = api.request("POST", f"/v1/servers/{srv['id']}/snapshots",
                       token=ADMIN, json={"snapshot": {"name": "killed"}})
    assert resp.status_code == 202, resp.text
    sid = resp.json()["snapshot"]["id"]
    api.wait_for(lambda: f"Failpoint {failpoint} fired" in api.read_log(),
                 timeout=30, what="the failpoint")
    api.proc.send_signal(signal.SIGKILL)
    api.proc.wait(30)

    api = service()  # start-up recovery asks vCenter
    snap = snapshots(api, srv["id"])[sid]
    assert (snap["status"], snap["consistency"]) == ("available", "crash")
    assert snap["is_current"]
    assert server(api, srv["id"])["task_state"] is None
    vm = vm_of(vcsim.connect(), OTHER_VM)
    assert vcenter_tree(vm) == {sid: (None, True)}


def test_a_snapshot_removed_in_vcenter_while_the_service_was_down_is_marked_error_at_start_up(
        vcsim, service):
    no_periodic_sync = {"DEFAULT": {"status_sync_interval": "0"}}
    api = service(**no_periodic_sync)
    srv = adopt(api, f"DC0/vm/{POOL_VM}")
    kept = snapshot(api, srv["id"], "kept")
    removed = snapshot(api, srv["id"], "removed")
    api.stop()
    vm = vm_of(vcsim.connect(), POOL_VM)
    wait_task(vm.snapshot.currentSnapshot.RemoveSnapshot_Task(
        removeChildren=False), "remove a snapshot while nativesnap is down")

    api = service(**no_periodic_sync)  # only its start-up sync reads vCenter
    lost = api.wait_for(_status_of(api, srv, removed["id"], "error"),
                        timeout=10, what="the removed snapshot marked error")
    assert (f"Snapshot {removed['id']} (removed) is no longer on the hypervisor"
            in lost["fault"]["message"])
    found = snapshots(api, srv["id"])
    assert found[kept["id"]]["status"] == "available"
    assert vcenter_tree(vm) == {kept["id"]: (None, True)}
    delete_snapshot(api, srv["id"], removed["id"])  # only the record goes
    delete_snapshot(api, srv["id"], kept["id"])
    assert vcenter_tree(vm) == {}

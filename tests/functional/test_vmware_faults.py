"""The vSphere driver when things go wrong, against the vCenter API simulator:
a wrong password, vCenter stopping in the middle of a task, the service
killed while a snapshot is being recorded. Nothing hangs, nothing stays
``creating``, and every fault says what happened."""

import signal

import pytest

from tests import fixtures
from tests.functional import helpers as h
from tests.functional.vmware_helpers import ADMIN
from tests.functional.vmware_helpers import adopt
from tests.functional.vmware_helpers import server
from tests.functional.vmware_helpers import snapshots
from tests.functional.vmware_helpers import vcenter_tree
from tests.functional.vmware_helpers import vm_of
from tests.functional.vmware_helpers import vmware_conf
from tests.functional.vmware_helpers import wait_idle

pytest_plugins = ["tests.vcsim_fixtures"]

VM = "DC0_H0_VM0"
OTHER_VM = "DC0_H0_VM1"


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


def test_vcenter_stopping_mid_task_ends_the_task_in_error_with_the_cause(
        vcsim, service):
    api = service(fault_injection={
        "failpoints": "manager.create.before_driver=sleep:1.5@1"})
    srv = adopt(api, f"DC0/vm/{VM}")
    resp = api.request("POST", f"/v1/servers/{srv['id']}/snapshots",
                       token=ADMIN, json={"snapshot": {"name": "cut"}})
    assert resp.status_code == 202, resp.text
    vcsim.stop()  # before the driver's first call to vCenter
    try:
        done = wait_idle(api, srv["id"])  # within [vmware] task_timeout
        snap = snapshots(api, srv["id"])[resp.json()["snapshot"]["id"]]
        assert snap["status"] == "error", snap
        assert "connection to vCenter failed" in snap["fault"]["message"]
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

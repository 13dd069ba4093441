"""The vSphere driver through nativesnap's HTTP API against a real vCenter API
simulator over HTTPS (``tests/vcsim_fixtures.py``): adoption by every kind of
reference, the snapshot tree kept equal to vCenter's after every step,
revert with both power choices, delete, linked and full spawn, export
refused clearly, and names that need escaping.

The simulator keeps no disk data (docs/vmware.md): what the tests compare
is vCenter's own record of the VM, read with pyvmomi, against nativesnap's.
"""

import pytest

from tests import fixtures
from tests.functional import helpers as h
from tests.functional.vmware_helpers import (
    ADMIN,
    adopt,
    assert_trees_agree,
    delete_snapshot,
    power,
    revert,
    server,
    snapshot,
    snapshots,
    vcenter_tree,
    vm_of,
    vmware_conf,
    wait_idle,
    wait_task)

pytest_plugins = ["tests.vcsim_fixtures"]

VM0 = "DC0_H0_VM0"
VM1 = "DC0_H0_VM1"
POOL_VM0 = "DC0_C0_RP0_VM0"
POOL_VM1 = "DC0_C0_RP0_VM1"
SYNC = 1  # status_sync_interval of the service under test


@pytest.fixture(scope="module")
def api(vcsim, tmp_path_factory):
    state = str(tmp_path_factory.mktemp("api-vmware"))
    server = fixtures.APIServer(state, fixtures.sqlite_url(state),
                                drivers=("vmware",), extra_conf={
                                    "vmware": vmware_conf(vcsim),
                                    "DEFAULT": {"status_sync_interval": str(SYNC)}})
    server.manage("db", "sync")
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def clean(api, sim):
    """After each test: no server and no snapshot left, in nativesnap or in
    vCenter, and every VM powered on as the simulator starts them."""
    yield
    servers = h.ok(api.request("GET", "/v1/servers", token=ADMIN))["servers"]
    for srv in sorted(servers, key=lambda s: s["origin"] != "spawned"):
        if srv["origin"] == "adopted":
            for sid in snapshots(api, srv["id"]):
                delete_snapshot(api, srv["id"], sid)
        h.ok(api.request("DELETE", f"/v1/servers/{srv['id']}", token=ADMIN), 204)
    for name in (VM0, VM1, POOL_VM0, POOL_VM1):
        vm = vm_of(sim, name)
        assert vm.snapshot is None, name
        if vm.runtime.powerState != "poweredOn":
            power(vm, on=True)


@pytest.fixture(scope="module")
def sim(vcsim):
    """pyvmomi's own view of the simulator, to compare with nativesnap's."""
    return vcsim.connect()


# --- adoption -----------------------------------------------------------------------


def test_a_vm_is_adopted_by_each_kind_of_reference_and_keyed_by_instance_uuid(
        api, sim):
    vm = vm_of(sim, VM1)
    instance, bios = vm.config.instanceUuid, vm.config.uuid
    refs = [instance, bios.upper(), vm._moId, f"DC0/vm/{VM1}"]
    for ref in refs:
        srv = adopt(api, ref, name="by-ref")
        assert srv["hypervisor_ref"] == instance, ref
        assert (srv["status"], srv["driver"]) == ("ACTIVE", "vmware")
        assert srv["capabilities"] == {
            "memory": True, "quiesce": False, "revert_any": True, "tree": True,
            "linked_spawn": True, "export": False}
        again = api.request("POST", "/v1/servers", token=ADMIN, json={"server": {
            "name": "twice", "driver": "vmware", "hypervisor_ref": ref}})
        h.assert_fault(again, 409, "already managed")
        resp = api.request("DELETE", f"/v1/servers/{srv['id']}", token=ADMIN)
        assert resp.status_code == 204, resp.text  # forgotten, not destroyed
    assert vm_of(sim, VM1) is not None


@pytest.mark.parametrize("ref,looked_for", [
    ("5bd3a4b8-0000-4000-8000-000000000000", "an instance or BIOS UUID"),
    ("vm-999999", "a managed object id"),
    ("DC0/vm/no-such-vm", "an inventory path"),
    ("no-such-vm", "UUID, a vm-N id or an inventory path")])
def test_an_unknown_reference_answers_400_naming_what_was_looked_for(
        api, ref, looked_for):
    resp = api.request("POST", "/v1/servers", token=ADMIN, json={"server": {
        "name": "x", "driver": "vmware", "hypervisor_ref": ref}})
    message = h.assert_fault(resp, 400, ref)
    assert looked_for in message


def test_status_and_capabilities_follow_the_power_state(api, sim):
    vm = vm_of(sim, POOL_VM1)
    srv = adopt(api, f"DC0/vm/{POOL_VM1}")
    power(vm, on=False)
    try:
        off = api.wait_for(lambda: (lambda s: s if s["status"] == "SHUTOFF"
                                    else None)(server(api, srv["id"])),
                           timeout=SYNC + 5, what="SHUTOFF")
        assert off["capabilities"]["memory"] is False
        resp = api.request("POST", f"/v1/servers/{srv['id']}/snapshots",
                           token=ADMIN, json={"snapshot": {"name": "m",
                                                           "memory": True}})
        h.assert_fault(resp, 400, "not powered on")
    finally:
        power(vm, on=True)
    on = api.wait_for(lambda: (lambda s: s if s["status"] == "ACTIVE"
                               else None)(server(api, srv["id"])),
                      timeout=SYNC + 5, what="ACTIVE")
    assert on["capabilities"]["memory"] is True


# --- the snapshot tree ------------------------------------------------------------


def test_snapshots_revert_and_a_branch_keep_the_tree_equal_to_vcenter_s(api, sim):
    vm = vm_of(sim, VM0)
    srv = adopt(api, f"DC0/vm/{VM0}")
    s1 = snapshot(api, srv["id"], "s1", memory=True)
    assert (s1["consistency"], s1["memory"]) == ("memory", True)
    assert_trees_agree(api, srv["id"], vm)
    s2 = snapshot(api, srv["id"], "s2", quiesce="preferred")
    # Tools do not run in the simulator's guests: preferred falls back.
    assert (s2["consistency"], s2["memory"]) == ("crash", False)
    assert s2["frozen_ms"] is None and s2["paused_ms"] is None
    assert_trees_agree(api, srv["id"], vm)
    s3 = snapshot(api, srv["id"], "s3", quiesce="off")
    assert s3["consistency"] == "crash"
    assert_trees_agree(api, srv["id"], vm)
    resp = api.request("POST", f"/v1/servers/{srv['id']}/snapshots", token=ADMIN,
                       json={"snapshot": {"name": "q", "quiesce": "required"}})
    h.assert_fault(resp, 409, "VMware Tools do not run")

    revert(api, srv["id"], s1["id"])
    assert_trees_agree(api, srv["id"], vm)
    s4 = snapshot(api, srv["id"], "s4")
    assert s4["parent_id"] == s1["id"]  # a branch
    assert_trees_agree(api, srv["id"], vm)
    assert sorted(c for c, _ in vcenter_tree(vm).values() if c) == sorted(
        [s1["id"], s1["id"], s2["id"]])


@pytest.mark.parametrize("power_on,state", [(False, "poweredOff"),
                                            (True, "poweredOn")])
def test_revert_to_a_middle_snapshot_sets_the_power_state_asked_for(
        api, sim, power_on, state):
    vm = vm_of(sim, POOL_VM0)
    srv = adopt(api, f"DC0/vm/{POOL_VM0}", name=f"revert-{power_on}")
    first = snapshot(api, srv["id"], "a")
    middle = snapshot(api, srv["id"], "b")
    snapshot(api, srv["id"], "c")
    done = revert(api, srv["id"], middle["id"], power_on=power_on)
    assert vm.runtime.powerState == state
    assert done["status"] == ("ACTIVE" if power_on else "SHUTOFF")
    assert vcenter_tree(vm)[middle["id"]] == (first["id"], True)
    assert snapshots(api, srv["id"])[middle["id"]]["is_current"]
    assert_trees_agree(api, srv["id"], vm)


def test_deleting_middle_current_and_oldest_keeps_the_trees_equal(api, sim):
    vm = vm_of(sim, VM1)
    srv = adopt(api, f"DC0/vm/{VM1}", name="deletes")
    s1, s2, s3, s4 = (snapshot(api, srv["id"], n) for n in ("1", "2", "3", "4"))
    for gone in (s2, s4, s1):  # the middle, the current, the oldest
        delete_snapshot(api, srv["id"], gone["id"])
        assert gone["id"] not in snapshots(api, srv["id"])
        assert_trees_agree(api, srv["id"], vm)
    assert list(snapshots(api, srv["id"])) == [s3["id"]]
    assert snapshots(api, srv["id"])[s3["id"]]["is_current"]

    # Removed in vCenter behind nativesnap's back: found by the sync.
    behind = snapshot(api, srv["id"], "behind")
    node = vm.snapshot.currentSnapshot
    wait_task(node.RemoveSnapshot_Task(removeChildren=False),
              "remove the snapshot behind nativesnap's back")
    lost = api.wait_for(
        lambda: (lambda s: s if s["status"] == "error" else None)(
            snapshots(api, srv["id"])[behind["id"]]),
        timeout=SYNC + 10, what="the lost snapshot marked error")
    assert (f"Snapshot {behind['id']} (behind) is no longer on the hypervisor"
            in lost["fault"]["message"])
    delete_snapshot(api, srv["id"], behind["id"])  # the record can go too
    assert list(snapshots(api, srv["id"])) == [s3["id"]]


# --- spawn and export ---------------------------------------------------------------


@pytest.mark.parametrize("power_on,status,state", [
    (True, "ACTIVE", "poweredOn"), (False, "SHUTOFF", "poweredOff")])
@pytest.mark.parametrize("linked", [True, False])
def test_spawn_makes_a_vm_in_the_power_state_asked_and_deleting_the_server_destroys_it(
        api, sim, linked, power_on, status, state):
    srv = adopt(api, f"DC0/vm/{POOL_VM1}", name=f"source-{linked}")
    snap = snapshot(api, srv["id"], "golden")
    name = f"clone-{'linked' if linked else 'full'}-{'on' if power_on else 'off'}"
    resp = api.request("POST", "/v1/servers", token=ADMIN, json={"server": {
        "name": name, "snapshot_id": snap["id"], "linked": linked,
        "power_on": power_on}})
    assert resp.status_code == 202, resp.text
    new = wait_idle(api, resp.json()["server"]["id"])
    assert (new["status"], new["fault"]) == (status, None)
    clone = vm_of(sim, name)
    assert clone is not None and clone.config.instanceUuid == new["hypervisor_ref"]
    assert clone.runtime.powerState == state
    if linked:
        busy = api.request("DELETE", f"/v1/servers/{srv['id']}/snapshots/"
                                     f"{snap['id']}", token=ADMIN)
        h.assert_fault(busy, 409, new["id"])
    h.ok(api.request("DELETE", f"/v1/servers/{new['id']}", token=ADMIN), 204)
    assert vm_of(sim, name) is None


def test_export_is_refused_with_400_saying_the_driver_does_not_offer_it(api):
    srv = adopt(api, f"DC0/vm/{VM0}", name="export")
    snap = snapshot(api, srv["id"], "to-export")
    resp = api.request("POST", f"/v1/servers/{srv['id']}/snapshots/{snap['id']}"
                               "/action", token=ADMIN,
                       json={"export": {"image_name": "img"}})
    h.assert_fault(resp, 400, "vmware driver does not support export_snapshot")


# --- names -------------------------------------------------------------------------


def test_names_with_xml_and_soap_special_characters_round_trip_exactly(api, sim):
    vm = vm_of(sim, VM0)
    srv = adopt(api, f"DC0/vm/{VM0}", name="names")
    name = "<a & \"b\"> 'c' ]]> </soapenv:Body>"
    snap = snapshot(api, srv["id"], name, description="d <&> ü€")
    assert snap["name"] == name
    [node] = [n for n in vm.snapshot.rootSnapshotList]
    assert node.name == f"{name} [{snap['id']}]"
    assert node.description == "d <&> ü€"
    resp = api.request("POST", f"/v1/servers/{srv['id']}/snapshots", token=ADMIN,
                       json={"snapshot": {"name": "n" * 256}})
    h.assert_fault(resp, 400, "name")

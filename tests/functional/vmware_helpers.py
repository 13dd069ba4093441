"""Helpers of the vSphere driver's tests: the driver's configuration for the
simulator of ``tests/vcsim_fixtures.py``, nativesnap's HTTP calls, and
vCenter's own view of a VM's snapshot tree (read with pyvmomi) to compare
with nativesnap's."""

import time

from tests.functional import helpers as h

ADMIN = "admin:proj-vmware"


def vmware_conf(vcsim, **overrides):
    conf = {"host": vcsim.host, "port": str(vcsim.port),
            "username": vcsim.username, "password": vcsim.password,
            "ca_file": vcsim.ca_file, "task_poll_interval": "0.05",
            "task_timeout": "30", "api_retry_count": "2"}
    conf.update(overrides)
    return conf


def vm_of(sim, name):
    return sim.content.searchIndex.FindByInventoryPath(f"DC0/vm/{name}")


def adopt(api, ref, name="vm"):
    resp = api.request("POST", "/v1/servers", token=ADMIN, json={"server": {
        "name": name, "driver": "vmware", "hypervisor_ref": ref}})
    assert resp.status_code == 201, resp.text
    return resp.json()["server"]


def server(api, server_id):
    return h.ok(api.request("GET", f"/v1/servers/{server_id}", token=ADMIN))[
        "server"]


def wait_idle(api, server_id):
    return api.wait_for(
        lambda: (lambda s: s if s["task_state"] is None else None)(
            server(api, server_id)), timeout=60, what=f"{server_id} idle")


def snapshot(api, server_id, name, expect="available", **fields):
    resp = api.request("POST", f"/v1/servers/{server_id}/snapshots", token=ADMIN,
                       json={"snapshot": dict(fields, name=name)})
    assert resp.status_code == 202, resp.text
    sid = resp.json()["snapshot"]["id"]
    wait_idle(api, server_id)
    snap = snapshots(api, server_id)[sid]
    assert snap["status"] == expect, snap
    return snap


def snapshots(api, server_id):
    body = h.ok(api.request("GET", f"/v1/servers/{server_id}/snapshots",
                            token=ADMIN))
    return {s["id"]: s for s in body["snapshots"]}


def revert(api, server_id, snapshot_id, **fields):
    resp = api.request("POST", f"/v1/servers/{server_id}/action", token=ADMIN,
                       json={"revert": dict(fields, snapshot_id=snapshot_id)})
    assert resp.status_code == 202, resp.text
    done = wait_idle(api, server_id)
    assert done["fault"] is None, done["fault"]
    return done


def delete_snapshot(api, server_id, snapshot_id):
    resp = api.request("DELETE", f"/v1/servers/{server_id}/snapshots/{snapshot_id}",
                       token=ADMIN)
    assert resp.status_code == 202, resp.text
    wait_idle(api, server_id)


def vcenter_tree(vm):
    """{nativesnap id: (parent's nativesnap id, current)} from vCenter."""
    info = vm.snapshot
    if info is None:
        return {}
    tree = {}
    todo = [(node, None) for node in info.rootSnapshotList]
    while todo:
        node, parent = todo.pop()
        sid = node.name.rsplit(" [", 1)[1].rstrip("]")
        tree[sid] = (parent, node.snapshot == info.currentSnapshot)
        todo.extend((child, sid) for child in node.childSnapshotList)
    return tree


def nativesnap_tree(api, server_id):
    return {sid: (s["parent_id"], s["is_current"])
            for sid, s in snapshots(api, server_id).items()
            if s["status"] == "available"}


def assert_trees_agree(api, server_id, vm):
    assert nativesnap_tree(api, server_id) == vcenter_tree(vm)


TASK_WAIT = 30  # the simulator ends its tasks within the call


def wait_task(task, what, timeout=TASK_WAIT):
    """Wait (bounded) until a vSphere task made by a test has ended; it must
    have succeeded. Returns its result."""
    deadline = time.monotonic() + timeout
    while task.info.state not in ("success", "error"):
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"vSphere task {task._moId} to {what} still {task.info.state} "
                f"after {timeout} s")
        time.sleep(0.02)
    assert task.info.state == "success", (
        f"vSphere task {task._moId} to {what} failed: {task.info.error}")
    return task.info.result


def power(vm, on):
    task = vm.PowerOnVM_Task() if on else vm.PowerOffVM_Task()
    wait_task(task, f"power {vm.name} {'on' if on else 'off'}")

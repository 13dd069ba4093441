"""The bare-metal driver through nativesnap's HTTP API, against real parts: a
4 GiB loop device holding a GPT and an ext4 filesystem of 512 MiB of files
(node A) and a blank one of the same size (node B), nativesnap-agent as a
process per node heartbeating to the service, the nginx WebDAV server of
tools/start-webdav, and qemu-img.

The power interface is ``none``: the agent is started by the test, standing
in for the ramdisk an operator boots (docs/baremetal.md says why Redfish is
not built yet). The service is one process (API and compute service) on
SQLite; the tests that crash it restart it on the same database.

One snapshot of node A is taken per module (``first``), restored, and spawned
to node B; the failure tests take their own.
"""

import collections
import json
import os
import re
import signal
import subprocess
import time

import pytest
import requests

from tests.functional import baremetal_helpers as bm
from tests.functional import helpers as h

ADMIN = "admin:admin-project"
HEARTBEAT_TIMEOUT = 20   # [baremetal] heartbeat_timeout of the service
TASK_TIMEOUT = 240       # a snapshot or a write of a 4 GiB device, bounded
WALK = re.compile(r"Provision state of server (\S+): (.+?) -> (.+?) \((\w+)\)")
STORE = os.path.join(bm.WEBDAV_STATE_DIR, "data")
WRONG_TOKEN = "not-the-token-its-agent-reads"


# --- real parts ----------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("baremetal-driver"))


@pytest.fixture(scope="module")
def webdav():
    url, _admin = bm.start_webdav()
    return url.rstrip("/")


@pytest.fixture(scope="module")
def devices(workdir):
    made = []
    try:
        made.append(bm.make_block_device(workdir, size=4 * bm.GiB,
                                         data_mib=512, seed=11))
        made.append(bm.blank_device(workdir, size=4 * bm.GiB, seed=12))
        yield made
    finally:
        for dev in made:
            dev.cleanup()


@pytest.fixture(scope="module")
def service(workdir, webdav, tmp_path_factory):
    svc = bm.Service(str(tmp_path_factory.mktemp("api-baremetal")), webdav,
                     HEARTBEAT_TIMEOUT)
    yield svc
    svc.api.stop()


@pytest.fixture(scope="module")
def nodes(service, workdir, devices):
    made = [bm.Node(service, workdir, f"node-{name}", dev)
            for name, dev in zip("ab", devices)]
    for node in made:
        node.start_agent()
    yield made
    for node in made:
        node.stop_agent()


@pytest.fixture(scope="module")
def server_a(service, nodes):
    body = {"server": {"name": "metal-a", "driver": "baremetal",
                       "hypervisor_ref": "node-a"}}
    server = h.ok(service.api.request("POST", "/v1/servers", token=ADMIN,
                                      json=body), 201)["server"]
    assert server["hypervisor_ref"] == nodes[0].id
    assert server["provision_state"] == "active"
    return server


# --- helpers -------------------------------------------------------------------


def server_view(api, server_id):
    return h.get_server(api, server_id)


def wait_idle(api, server_id, timeout=TASK_TIMEOUT):
    return h.wait_idle(api, server_id, timeout=timeout, interval=0.2)


def snapshot(api, server_id, wait=True):
    """h.create_snapshot with a wait long enough for a 4 GiB stream."""
    snap = h.create_snapshot(api, server_id, token=ADMIN,
                             name=h.unique("metal-snap-"), wait=False)
    if wait:
        wait_idle(api, server_id)
        snap = h.get_snapshot(api, server_id, snap["id"])
    return snap


def action(api, server_id, body, code=202):
    return h.ok(api.request("POST", f"/v1/servers/{server_id}/action",
                            token=ADMIN, json=body), code)


def walk(api, server_id, since):
    """The provision-state moves of ``server_id`` logged after ``since``."""
    return [(m.group(2), m.group(3)) for m in WALK.finditer(api.read_log()[since:])
            if m.group(1) == server_id]


def stored_files(snapshot_id):
    return {name for name in ("incoming", "images")
            if os.path.exists(os.path.join(STORE, name, f"{snapshot_id}.qcow2"))}


def facts_of(snapshot_id):
    with open(os.path.join(STORE, "images", f"{snapshot_id}.json")) as f:
        return json.load(f)


NodeRef = collections.namedtuple("NodeRef", "id token port")


def heartbeat(api, node, token=None):
    return api.request("POST", f"/v1/baremetal/nodes/{node.id}/heartbeat",
                       token=None, headers={"X-Agent-Token": token or node.token},
                       json={"agent_url": f"http://127.0.0.1:{node.port}",
                             "agent_version": "test"})


# --- the snapshot, restore and spawn ---------------------------------------------


@pytest.fixture(scope="module")
def first(service, server_a, nodes):
    """Node A's first snapshot, with the device as it was and the walk."""
    api = service.api
    files = nodes[0].device.read_files()
    device_sha = nodes[0].device.sha256()
    since = len(api.read_log())
    snap = snapshot(api, server_a["id"])
    return {"snapshot": snap, "files": files, "device_sha256": device_sha,
            "walk": walk(api, server_a["id"], since)}


def test_a_snapshot_streams_only_the_data_verifies_it_and_stores_it(first,
                                                                   nodes):
    snap = first["snapshot"]
    assert snap["status"] == "available", snap
    assert snap["kind"] == "external" and snap["consistency"] == "crash"
    facts = facts_of(snap["id"])
    assert facts["bytes_sent"] <= facts["allocated_bytes"] * 1.05, facts
    assert facts["allocated_bytes"] >= 512 * bm.MiB
    assert facts["device_sha256"] == first["device_sha256"]
    image = os.path.join(STORE, "images", f"{snap['id']}.qcow2")
    assert snap["size_bytes"] == os.path.getsize(image) == facts["bytes_sent"]
    assert bm.sha256_file(image) == facts["sha256"]
    subprocess.run(["qemu-img", "compare", "-f", "qcow2", "-F", "raw", image,
                    nodes[0].device.path], check=True, capture_output=True,
                   timeout=300)
    assert stored_files(snap["id"]) == {"images"}   # no intermediate file


def test_the_snapshot_walked_exactly_the_specs_provision_states(first):
    assert first["walk"] == [("active", "snapshotting"),
                             ("snapshotting", "snapshot wait"),
                             ("snapshot wait", "snapshotting"),
                             ("snapshotting", "active")]


def test_memory_and_quiesce_are_refused_naming_the_driver(service, server_a):
    for fields in ({"memory": True}, {"quiesce": "required"}):
        resp = service.api.request(
            "POST", h.snapshot_path(server_a["id"]), token=ADMIN,
            json={"snapshot": {"name": "refused", **fields}})
        h.assert_fault(resp, 400, "baremetal")
    caps = server_view(service.api, server_a["id"])["capabilities"]
    assert caps["memory"] is False and caps["quiesce"] is False


def test_restore_brings_back_every_file_and_the_whole_device(first, service,
                                                             server_a, nodes):
    device = nodes[0].device
    device.overwrite(device.part_offset + 64 * bm.MiB, os.urandom(8 * bm.MiB))
    assert device.read_files() != first["files"]
    since = len(service.api.read_log())
    action(service.api, server_a["id"],
           {"revert": {"snapshot_id": first["snapshot"]["id"]}})
    server = wait_idle(service.api, server_a["id"])
    assert server["fault"] is None and server["provision_state"] == "active"
    assert device.sha256() == first["device_sha256"]
    assert device.read_files() == first["files"]
    assert walk(service.api, server_a["id"], since) == [
        ("active", "deploying"), ("deploying", "wait call-back"),
        ("wait call-back", "deploying"), ("deploying", "active")]


def test_spawn_writes_the_snapshot_to_the_free_node_then_none_is_free(
        first, service, nodes):
    api = service.api
    resp = api.request("POST", "/v1/servers", token=ADMIN, json={"server": {
        "name": "metal-b", "snapshot_id": first["snapshot"]["id"],
        "linked": False}})
    spawned = h.ok(resp, 202)["server"]
    assert spawned["hypervisor_ref"] == nodes[1].id
    spawned = wait_idle(api, spawned["id"])
    assert spawned["status"] == "ACTIVE", spawned
    assert spawned["provision_state"] == "active"
    assert nodes[1].device.sha256() == first["device_sha256"]
    assert nodes[1].device.read_files() == first["files"]
    again = api.request("POST", "/v1/servers", token=ADMIN, json={"server": {
        "name": "metal-c", "snapshot_id": first["snapshot"]["id"],
        "linked": False}})
    h.assert_fault(again, 409)
    h.ok(api.request("DELETE", f"/v1/servers/{spawned['id']}", token=ADMIN),
         204)


def test_a_snapshot_exports_to_the_image_store_as_the_stored_image(first,
                                                                    service,
                                                                    server_a):
    api = service.api
    snap = first["snapshot"]
    resp = api.request("POST", h.snapshot_path(server_a["id"], snap["id"]) +
                       "/action", token=ADMIN,
                       json={"export": {"image_name": "metal-image"}})
    image = h.ok(resp, 202)["image"]
    wait_idle(api, server_a["id"])
    image = h.ok(api.request("GET", f"/v1/images/{image['id']}",
                             token=ADMIN))["image"]
    assert image["status"] == "active", image
    facts = facts_of(snap["id"])
    assert image["sha256"] == facts["sha256"]
    assert image["size_bytes"] == facts["size_bytes"]
    h.ok(api.request("DELETE", f"/v1/images/{image['id']}", token=ADMIN), 204)


# --- failures ------------------------------------------------------------------


def test_an_agent_killed_mid_stream_fails_cleans_up_and_retry_succeeds(
        service, server_a, nodes):
    api, node = service.api, nodes[0]
    since = len(api.read_log())
    snap = snapshot(api, server_a["id"], wait=False)
    api.wait_for(lambda: h.get_snapshot(api, server_a["id"],
                                        snap["id"])["progress"] > 0,
                 timeout=TASK_TIMEOUT, interval=0.1, what="the stream to start")
    node.stop_agent(kill=True)
    server = wait_idle(api, server_a["id"])
    assert server["provision_state"] == "snapshot failed"
    failed = h.get_snapshot(api, server_a["id"], snap["id"])
    assert failed["status"] == "error" and "agent" in failed["fault"]["message"]
    assert stored_files(snap["id"]) == set()
    node.start_agent()
    retried = action(api, server_a["id"], {"retry_snapshot": {}})["snapshot"]
    assert retried["id"] == snap["id"]
    wait_idle(api, server_a["id"])
    assert h.get_snapshot(api, server_a["id"], snap["id"])["status"] == "available"
    assert server_view(api, server_a["id"])["provision_state"] == "active"
    assert stored_files(snap["id"]) == {"images"}
    assert walk(api, server_a["id"], since)[-4:] == [
        ("snapshot failed", "snapshotting"), ("snapshotting", "snapshot wait"),
        ("snapshot wait", "snapshotting"), ("snapshotting", "active")]


def test_a_wrong_agent_token_fails_with_a_clear_fault_and_abort_recovers(
        service, nodes, workdir):
    api = service.api
    # A node enrolled with a token its agent does not hold: the heartbeat
    # (sent here with the enrolled token) is accepted, the agent refuses.
    wrong = bm.enrol(api, "node-wrong-token", nodes[0].agent.url, WRONG_TOKEN)
    body = {"server": {"name": "metal-wrong", "driver": "baremetal",
                       "hypervisor_ref": wrong["id"]}}
    server = h.ok(api.request("POST", "/v1/servers", token=ADMIN, json=body),
                  201)["server"]
    snap = snapshot(api, server["id"], wait=False)
    h.wait_task(api, server["id"], "snapshot_wait", timeout=30)
    h.ok(heartbeat(api, NodeRef(wrong["id"], WRONG_TOKEN, nodes[0].port)),
         202)
    wait_idle(api, server["id"])
    failed = h.get_snapshot(api, server["id"], snap["id"])
    assert failed["status"] == "error"
    assert "refused the node's agent token (HTTP 401)" in failed["fault"]["message"]
    assert nodes[0].agent.get("/v1/status", token=WRONG_TOKEN).status_code == 401
    action(api, server["id"], {"abort_snapshot": {}})
    assert server_view(api, server["id"])["provision_state"] == "active"
    assert WRONG_TOKEN not in api.read_log()
    h.ok(api.request("DELETE", f"/v1/servers/{server['id']}", token=ADMIN), 204)


def test_a_heartbeat_that_never_comes_fails_the_snapshot_after_the_bounded_wait(
        service, server_a, nodes):
    api = service.api
    nodes[0].stop_agent()
    try:
        since = len(api.read_log())
        started = time.monotonic()
        snap = snapshot(api, server_a["id"], wait=False)
        server = wait_idle(api, server_a["id"], timeout=HEARTBEAT_TIMEOUT + 30)
        assert time.monotonic() - started >= HEARTBEAT_TIMEOUT - 1
        assert server["provision_state"] == "snapshot failed"
        failed = h.get_snapshot(api, server_a["id"], snap["id"])
        assert failed["status"] == "error"
        assert "heartbeat" in failed["fault"]["message"]
        assert walk(api, server_a["id"], since) == [
            ("active", "snapshotting"), ("snapshotting", "snapshot wait"),
            ("snapshot wait", "snapshot failed")]
        action(api, server_a["id"], {"abort_snapshot": {}})
        assert server_view(api, server_a["id"])["provision_state"] == "active"
    finally:
        nodes[0].start_agent()


def test_abort_while_waiting_fails_the_snapshot_then_returns_to_active(
        service, server_a, nodes):
    api = service.api
    nodes[0].stop_agent()
    try:
        snap = snapshot(api, server_a["id"], wait=False)
        h.wait_task(api, server_a["id"], "snapshot_wait", timeout=30)
        action(api, server_a["id"], {"abort_snapshot": {}})
        server = wait_idle(api, server_a["id"], timeout=30)
        assert server["provision_state"] == "snapshot failed"
        assert "aborted" in h.get_snapshot(api, server_a["id"],
                                           snap["id"])["fault"]["message"]
        action(api, server_a["id"], {"abort_snapshot": {}})
        assert server_view(api, server_a["id"])["provision_state"] == "active"
    finally:
        nodes[0].start_agent()


def test_webdav_down_fails_the_snapshot_with_a_clear_fault(service, server_a,
                                                           webdav):
    api = service.api
    with open(os.path.join(bm.WEBDAV_STATE_DIR, "run", "nginx.pid")) as f:
        pid = int(f.read().strip())
    os.kill(pid, signal.SIGQUIT)
    try:
        deadline = time.monotonic() + 30
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.1)
        snap = snapshot(api, server_a["id"])
        assert snap["status"] == "error"
        assert "cannot reach" in snap["fault"]["message"] or (
            "upload" in snap["fault"]["message"]), snap["fault"]
        assert server_view(api, server_a["id"])["provision_state"] == (
            "snapshot failed")
        assert stored_files(snap["id"]) == set()
        action(api, server_a["id"], {"abort_snapshot": {}})
    finally:
        bm.start_webdav()


def test_a_tampered_upload_is_refused_and_nothing_is_stored(service, server_a):
    api = service.restart("baremetal.snapshot.before_verify=sleep:15")
    try:
        snap = snapshot(api, server_a["id"], wait=False)
        incoming = os.path.join(STORE, "incoming", f"{snap['id']}.qcow2")
        api.wait_for(lambda: os.path.exists(incoming) and "before_verify"
                     in api.read_log(), timeout=TASK_TIMEOUT, interval=0.1,
                     what="the upload to wait for its verification")
        with open(incoming, "r+b") as f:
            f.seek(os.path.getsize(incoming) // 2)
            byte = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([byte[0] ^ 0xFF]))
        wait_idle(api, server_a["id"])
        failed = h.get_snapshot(api, server_a["id"], snap["id"])
        assert failed["status"] == "error"
        assert "sha256 differs" in failed["fault"]["message"]
        assert stored_files(snap["id"]) == set()
        action(api, server_a["id"], {"abort_snapshot": {}})
    finally:
        service.restart()


def test_kill_9_while_streaming_is_reconciled_failed_with_nothing_left(
        service, server_a):
    api = service.restart("baremetal.snapshot.before_verify=crash")
    snap = snapshot(api, server_a["id"], wait=False)
    api.proc.wait(TASK_TIMEOUT)   # the failpoint kills it after the stream
    assert os.path.exists(os.path.join(STORE, "incoming", f"{snap['id']}.qcow2"))
    api = service.start()
    server = wait_idle(api, server_a["id"], timeout=60)
    assert server["provision_state"] == "snapshot failed"
    assert h.get_snapshot(api, server_a["id"], snap["id"])["status"] == "error"
    assert stored_files(snap["id"]) == set()
    action(api, server_a["id"], {"abort_snapshot": {}})


def test_kill_9_in_snapshot_wait_carries_on_after_the_restart(service,
                                                              server_a, nodes):
    api = service.api
    nodes[0].stop_agent()
    snap = snapshot(api, server_a["id"], wait=False)
    h.wait_task(api, server_a["id"], "snapshot_wait", timeout=30)
    service.kill9()
    api = service.start()
    assert server_view(api, server_a["id"])["provision_state"] == "snapshot wait"
    nodes[0].start_agent()
    server = wait_idle(api, server_a["id"])
    assert server["provision_state"] == "active"
    assert h.get_snapshot(api, server_a["id"], snap["id"])["status"] == "available"
    assert stored_files(snap["id"]) == {"images"}


def test_deleting_a_snapshot_removes_its_stored_image(service, server_a, first):
    api = service.api
    snap = snapshot(api, server_a["id"])
    assert stored_files(snap["id"]) == {"images"}
    h.ok(api.request("DELETE", h.snapshot_path(server_a["id"], snap["id"]),
                     token=ADMIN), 202)
    wait_idle(api, server_a["id"], timeout=60)
    assert stored_files(snap["id"]) == set()
    assert not os.path.exists(os.path.join(STORE, "images",
                                           f"{snap['id']}.json"))


def test_the_heartbeat_route_refuses_a_wrong_token(service, nodes):
    resp = heartbeat(service.api, nodes[0], token="wrong")
    assert resp.status_code == 401
    assert requests.post(f"{service.api.url}/v1/baremetal/nodes/{nodes[0].id}"
                         "/heartbeat", json={}, timeout=10).status_code == 401

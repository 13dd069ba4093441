"""The bare-metal driver's Redfish power interface against real parts:
sushy-tools' Redfish emulator (with basic authentication) over a real
libvirt TCG domain whose disk is the node's loop device, nativesnap-agent
standing in for the ramdisk, nginx WebDAV and qemu-img.

The domain runs before the snapshot; nativesnap forces it off through
Redfish before the agent reads the disk (checked while the task waits for
the heartbeat), and powers it on to boot from its disk afterwards; the
restore does the same around the write. The domain has no bootable system
(its disk is the test's GPT + ext4 data): "booting from the disk" is its
firmware trying that disk, which is all the power interface controls.
"""

import os
import subprocess
import sys
import time
import uuid

import bcrypt
import pytest
import requests

from tests import fixtures
from tests import guest as guestlib
from tests.functional import baremetal_helpers as bm
from tests.functional import helpers as h

HEARTBEAT_TIMEOUT = 60
TASK_TIMEOUT = 240
BMC_USER = "bmc-admin"
BMC_PASSWORD = "bmc-" + os.urandom(8).hex()
EMULATOR = os.path.join(os.path.dirname(sys.executable), "sushy-emulator")

DOMAIN_XML = """<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='block' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source dev='{device}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("baremetal-redfish"))


@pytest.fixture(scope="module")
def device(workdir):
    dev = bm.make_block_device(workdir, size=1 * bm.GiB, data_mib=64, seed=21)
    yield dev
    dev.cleanup()


@pytest.fixture(scope="module")
def domain(device):
    """A running TCG domain on the node's disk."""
    conn = guestlib.connect()
    dom = conn.defineXML(DOMAIN_XML.format(
        name=f"nativesnap-redfish-{uuid.uuid4().hex[:8]}",
        uuid=str(uuid.uuid4()), device=device.path))
    dom.create()
    yield dom
    try:
        if dom.isActive():
            dom.destroy()
        dom.undefine()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def bmc(workdir, domain):
    """sushy-emulator for this one domain, with basic authentication."""
    users = os.path.join(workdir, "bmc-htpasswd")
    with open(users, "w") as f:
        hashed = bcrypt.hashpw(BMC_PASSWORD.encode(), bcrypt.gensalt())
        f.write(f"{BMC_USER}:{hashed.decode()}\n")
    port = fixtures.free_port()
    config = os.path.join(workdir, "emulator.conf")
    with open(config, "w") as f:
        f.write(f"SUSHY_EMULATOR_AUTH_FILE = {users!r}\n"
                f"SUSHY_EMULATOR_ALLOWED_INSTANCES = [{domain.UUIDString()!r}]\n")
    log = open(os.path.join(workdir, "emulator.log"), "ab")
    proc = subprocess.Popen([EMULATOR, "--config", config, "-i", "127.0.0.1",
                             "-p", str(port), "--libvirt-uri",
                             guestlib.LIBVIRT_URI],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, "sushy-emulator exited"
        try:
            requests.get(url + "/redfish/v1/", timeout=2)
            break
        except requests.ConnectionError:
            assert time.monotonic() < deadline, "sushy-emulator not answering"
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(10)
    log.close()


@pytest.fixture(scope="module")
def service(webdav_url, tmp_path_factory):
    svc = bm.Service(str(tmp_path_factory.mktemp("api-redfish")), webdav_url,
                     HEARTBEAT_TIMEOUT)
    yield svc
    svc.api.stop()


@pytest.fixture(scope="module")
def webdav_url():
    url, _admin = bm.start_webdav()
    return url.rstrip("/")


@pytest.fixture(scope="module")
def node(service, workdir, device, domain, bmc):
    power = {"interface": "redfish", "address": bmc,
             "system_id": domain.UUIDString(), "username": BMC_USER,
             "password": BMC_PASSWORD}
    made = bm.Node(service, workdir, "redfish-node", device, power=power)
    yield made
    made.stop_agent()


@pytest.fixture(scope="module")
def server(service, node):
    body = {"server": {"name": "metal-redfish", "driver": "baremetal",
                       "hypervisor_ref": node.id}}
    return h.ok(service.api.request("POST", "/v1/servers", token=bm.ADMIN,
                                    json=body), 201)["server"]


def off_while_waiting_then_on(api, server_id, node, domain):
    """With the agent down, the task waits for its heartbeat: the domain
    must be off by then; the agent's start resumes it; the domain must run
    again once the task ended."""
    api.wait_for(lambda: h.get_server(api, server_id)["task_state"] in (
        "snapshot_wait", "revert_wait"), timeout=60,
        what="the task to wait for the agent")
    assert not domain.isActive(), "the node was not powered off first"
    node.start_agent()
    try:
        server = h.wait_idle(api, server_id, timeout=TASK_TIMEOUT, interval=0.2)
    finally:
        node.stop_agent()
    assert domain.isActive(), "the node was not powered on afterwards"
    return server


def test_a_snapshot_powers_the_node_off_for_the_agent_and_on_after(
        service, server, node, domain, device):
    api = service.api
    assert domain.isActive()
    resp = api.request("POST", h.snapshot_path(server["id"]), token=bm.ADMIN,
                       json={"snapshot": {"name": "through-redfish"}})
    snap = h.ok(resp, 202)["snapshot"]
    done = off_while_waiting_then_on(api, server["id"], node, domain)
    assert done["provision_state"] == "active"
    snap = h.get_snapshot(api, server["id"], snap["id"])
    assert snap["status"] == "available", snap
    image = os.path.join(bm.WEBDAV_STATE_DIR, "data", "images",
                         f"{snap['id']}.qcow2")
    domain.destroy()   # the disk at rest for the comparison
    try:
        subprocess.run(["qemu-img", "compare", "-f", "qcow2", "-F", "raw",
                        image, device.path], check=True, capture_output=True,
                       timeout=120)
    finally:
        domain.create()
    # The restore: the data changed, written back with the node off.
    files = device.read_files()
    domain.destroy()
    device.overwrite(device.part_offset + 8 * bm.MiB, os.urandom(4 * bm.MiB))
    domain.create()
    h.ok(api.request("POST", f"/v1/servers/{server['id']}/action",
                     token=bm.ADMIN,
                     json={"revert": {"snapshot_id": snap["id"]}}), 202)
    done = off_while_waiting_then_on(api, server["id"], node, domain)
    assert done["fault"] is None and done["provision_state"] == "active"
    domain.destroy()
    try:
        assert device.read_files() == files
    finally:
        domain.create()


def test_the_bmc_password_and_the_agent_token_never_reach_the_log(service,
                                                                  node):
    log = service.api.read_log()
    assert BMC_PASSWORD not in log and node.token not in log
    shown = h.ok(service.api.request("GET", f"/v1/baremetal/nodes/{node.id}",
                                     token=bm.ADMIN))
    assert BMC_PASSWORD not in str(shown) and node.token not in str(shown)


def test_a_bmc_refusing_the_credentials_fails_the_snapshot_before_any_wait(
        service, workdir, device, domain, bmc):
    api = service.api
    power = {"interface": "redfish", "address": bmc,
             "system_id": domain.UUIDString(), "username": BMC_USER,
             "password": "not-the-bmc-password"}
    record = bm.enrol(api, "redfish-wrong", "http://127.0.0.1:9", "t" * 20,
                      power)
    body = {"server": {"name": "metal-wrong-bmc", "driver": "baremetal",
                       "hypervisor_ref": record["id"]}}
    wrong = h.ok(api.request("POST", "/v1/servers", token=bm.ADMIN, json=body),
                 201)["server"]
    resp = api.request("POST", h.snapshot_path(wrong["id"]), token=bm.ADMIN,
                       json={"snapshot": {"name": "refused"}})
    snap = h.ok(resp, 202)["snapshot"]
    done = h.wait_idle(api, wrong["id"], timeout=60, interval=0.2)
    assert done["provision_state"] == "snapshot failed"
    failed = h.get_snapshot(api, wrong["id"], snap["id"])
    assert failed["status"] == "error" and "Redfish" in failed["fault"]["message"]
    assert "not-the-bmc-password" not in api.read_log()
    assert domain.isActive()
    h.ok(api.request("POST", f"/v1/servers/{wrong['id']}/action",
                     token=bm.ADMIN, json={"abort_snapshot": {}}), 202)
    h.ok(api.request("DELETE", f"/v1/servers/{wrong['id']}", token=bm.ADMIN),
         204)

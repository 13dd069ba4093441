"""The libvirt driver that `make run` enables, against the real libvirtd:
adopting a domain by name or UUID, status following the domain's state, and
disks it cannot snapshot refused up front with 400 naming them."""

import subprocess

import uuid

import libvirt
import pytest


DOMAIN_XML = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator>{disks}</devices>
</domain>"""

RAW_DISK = """<disk type='file' device='disk'><driver name='qemu' type='raw'/>
  <source file='{path}'/><target dev='vda' bus='virtio'/></disk>"""


@pytest.fixture(scope="module")
def conn():
    connection = libvirt.open("qemu:///system")
    yield connection
    connection.close()


@pytest.fixture
def domain(conn):
    dom = conn.defineXML(DOMAIN_XML.format(name=f"nativesnap-test-{uuid.uuid4()}",
                                           disks=""))
    yield dom
    try:
        if dom.isActive():
            dom.destroy()
        dom.undefine()
    except libvirt.libvirtError:
        pass


def test_adopting_a_libvirt_domain_by_name_keys_it_by_uuid_and_follows_its_state(
        libvirt_api, domain):
    resp = libvirt_api.request("POST", "/v1/servers", json={"server": {
        "name": "adopted", "driver": "libvirt", "hypervisor_ref": domain.name()}})
    assert resp.status_code == 201, resp.text
    server = resp.json()["server"]
    assert server["hypervisor_ref"] == domain.UUIDString()
    assert server["status"] == "SHUTOFF"
    assert all(server["capabilities"].values())

    # The compute service records the domain's state as libvirt reports it
    # (docs/architecture.md); the API shows the record.
    domain.create()
    libvirt_api.wait_for(lambda: _status(libvirt_api, server) == "ACTIVE",
                         timeout=10, what="the server shown ACTIVE")
    domain.destroy()
    libvirt_api.wait_for(lambda: _status(libvirt_api, server) == "SHUTOFF",
                         timeout=10, what="the server shown SHUTOFF")


def _status(api, server):
    return api.request("GET", f"/v1/servers/{server['id']}").json()[
        "server"]["status"]


def test_adopting_the_same_domain_twice_by_uuid_answers_409(libvirt_api, domain):
    body = {"server": {"name": "a", "driver": "libvirt",
                       "hypervisor_ref": domain.name()}}
    assert libvirt_api.request("POST", "/v1/servers", json=body).status_code == 201
    body["server"]["hypervisor_ref"] = domain.UUIDString()
    resp = libvirt_api.request("POST", "/v1/servers", json=body)
    assert resp.status_code == 409
    assert "already managed" in resp.json()["conflictingRequest"]["message"]


def test_adopting_an_unknown_domain_answers_400_naming_it(libvirt_api):
    resp = libvirt_api.request("POST", "/v1/servers", json={"server": {
        "name": "x", "driver": "libvirt", "hypervisor_ref": "no-such-domain-xyz"}})
    assert resp.status_code == 400
    assert "no-such-domain-xyz" in resp.json()["badRequest"]["message"]
    listed = libvirt_api.request("GET", "/v1/servers").json()["servers"]
    assert all(s["hypervisor_ref"] != "no-such-domain-xyz" for s in listed)


def test_snapshot_of_a_raw_disk_answers_400_naming_the_disk_and_changes_nothing(
        libvirt_api, conn, tmp_path):
    raw = tmp_path / "disk.raw"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(raw), "16M"],
                   check=True)
    dom = conn.defineXML(DOMAIN_XML.format(
        name=f"nativesnap-test-{uuid.uuid4()}", disks=RAW_DISK.format(path=raw)))
    try:
        server = libvirt_api.request("POST", "/v1/servers", json={"server": {
            "name": "raw", "driver": "libvirt",
            "hypervisor_ref": dom.name()}}).json()["server"]
        resp = libvirt_api.request("POST", f"/v1/servers/{server['id']}/snapshots",
                                   json={"snapshot": {"name": "s1"}})
        assert resp.status_code == 400
        message = resp.json()["badRequest"]["message"]
        assert "vda" in message and "raw" in message
        listed = libvirt_api.request(
            "GET", f"/v1/servers/{server['id']}/snapshots").json()["snapshots"]
        assert listed == []
        assert "<source file='%s'/>" % raw in dom.XMLDesc(0)
    finally:
        dom.undefine()

"""Helpers of the assisted volume snapshot tests: nativesnap-api with the
libvirt driver called as Cinder calls Nova (python-novaclient's
``assisted_volume_snapshots`` at ``<nativesnap>/v2.1``), Cinder's side of a
volume's chain as its remotefs drivers keep it (``Volume``), and the data
written and read inside the guest, region by region."""

import hashlib
import json
import os
import subprocess
import time
import uuid

from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
from novaclient import client as nova_client
import libvirt
import requests

from nativesnap.virt.libvirt import xml as lxml_xml
from tests import fixtures
from tests import guest as guestlib
from tests.functional import libvirt_helpers as lh

REGION = 1 << 20  # bytes per region written in the guest
BLOCKS = REGION // 65536
VOLUME_SIZE = "64M"
WAIT = 60  # bound of every wait for Cinder's database or nativesnap


def make_api(state, cinder, extra=None, **libvirt_options):
    """A libvirt nativesnap-api (not started) of ``state`` calling ``cinder``
    back; ``extra``: more sections ({section: {option: value}})."""
    conf = cinder.nativesnap_conf()
    if libvirt_options:
        conf["libvirt"] = {k: str(v) for k, v in libvirt_options.items()}
    for section, values in (extra or {}).items():
        conf.setdefault(section, {}).update(values)
    return fixtures.APIServer(state, fixtures.sqlite_url(state),
                              drivers=("libvirt",), extra_conf=conf)


def start_api(tmp_path_factory, cinder, name, **libvirt_options):
    api = make_api(str(tmp_path_factory.mktemp(name)), cinder,
                   **libvirt_options)
    api.manage("db", "sync")
    return api.start()


def admin_token(cinder):
    # Cinder's privileged user calls Nova; nativesnap calls Cinder back in
    # that caller's project, the project of the snapshot rows.
    return f"admin:{cinder.project_id}"


def nova(api, token):
    """python-novaclient as Cinder makes it: compute 2.1, a Nova endpoint."""
    endpoint = api.url + "/v2.1"
    sess = ks_session.Session(auth=token_endpoint.Token(endpoint, token))
    return nova_client.Client("2.1", session=sess, endpoint_override=endpoint)


def snapshot_action(cinder, snapshot_id, body):
    resp = requests.post(
        f"{cinder.endpoint}/{cinder.project_id}/snapshots/{snapshot_id}/action",
        headers={"X-Auth-Token": admin_token(cinder)}, json=body, timeout=30)
    assert resp.status_code == 202, resp.text


def cinder_deleting(cinder, snapshot_id):
    """Cinder's snapshot moved to ``deleting`` at 0%, as Cinder has it when it
    asks for the merge (through Cinder's own admin API)."""
    snapshot_action(cinder, snapshot_id, {"os-reset_status": {"status": "deleting"}})
    snapshot_action(cinder, snapshot_id, {"os-update_snapshot_status": {
        "status": "deleting", "progress": "0%"}})
    assert cinder.snapshot(snapshot_id)["progress"] == "0%"


def wait_cinder(cinder, snapshot_id, status, progress="90%"):
    """Cinder's database shows ``status``/``progress`` (bounded poll)."""
    deadline = time.monotonic() + WAIT
    while True:
        row = cinder.snapshot(snapshot_id)
        if row["status"] == status and row.get("progress") == progress:
            return row
        assert time.monotonic() < deadline, (
            f"Cinder shows {row['status']}/{row.get('progress')} for snapshot "
            f"{snapshot_id} after {WAIT} s, not {status}/{progress}")
        time.sleep(0.1)


def operations(api, cinder, **query):
    """The admin listing (newest first)."""
    path = "/v1/os-assisted-volume-snapshots"
    if query:
        path += "?" + "&".join(f"{k}={v}" for k, v in sorted(query.items()))
    resp = api.request("GET", path, token=admin_token(cinder))
    assert resp.status_code == 200, resp.text
    return resp.json()["operations"]


def wait_operation(api, cinder, volume_id, snapshot_id, action):
    """The record of the operation, once it has finished."""
    deadline = time.monotonic() + WAIT
    while True:
        found = [op for op in operations(api, cinder, volume_id=volume_id)
                 if op["snapshot_id"] == snapshot_id and op["action"] == action]
        if found and found[0]["status"] not in ("queued", "running"):
            return found[0]
        assert time.monotonic() < deadline, f"{action} of {snapshot_id} unfinished"
        time.sleep(0.1)


# --- the files, as qemu-img sees them --------------------------------------------


def image_info(path):
    out = subprocess.run(["qemu-img", "info", "-U", "--backing-chain",
                          "--output=json", path], check=True, capture_output=True,
                         text=True, timeout=60).stdout
    return json.loads(out)


def chain_names(path):
    """The chain top first, by file name; every backing name is relative."""
    layers = image_info(path)
    for layer in layers:
        backing = layer.get("backing-filename")
        assert backing is None or "/" not in backing, (
            f"{layer['filename']} names its backing file {backing!r}, not "
            "relatively as Cinder expects")
    return [os.path.basename(layer["filename"]) for layer in layers]


def chain_names_any(path):
    """The chain top first, by file name, however the backing files are named."""
    return [os.path.basename(layer["filename"]) for layer in image_info(path)]


def region_of_file(path, index, tmp_path):
    """sha256 of region ``index`` of what ``path`` (with its chain) reads."""
    raw = tmp_path / f"read-{uuid.uuid4().hex}.raw"
    subprocess.run(["qemu-img", "convert", "-U", "-O", "raw", path, str(raw)],
                   check=True, capture_output=True, timeout=120)
    try:
        with open(raw, "rb") as f:
            f.seek(index * REGION)
            return hashlib.sha256(f.read(REGION)).hexdigest()
    finally:
        raw.unlink()


# --- the guest's view of the volume ---------------------------------------------


def write_region(guest, index, dev="/dev/vdb"):
    """Random bytes into region ``index`` of the volume, synced; their sha256."""
    out = guest.sh(f"head -c {REGION} /dev/urandom > /tmp/region && "
                   f"dd if=/tmp/region of={dev} bs=65536 seek={index * BLOCKS} "
                   "conv=fsync 2>/dev/null && sha256sum /tmp/region")
    return out.split()[0]


def read_region(guest, index, dev="/dev/vdb"):
    """sha256 of region ``index`` as the guest reads it from the disk."""
    out = guest.sh("echo 3 > /proc/sys/vm/drop_caches; "
                   f"dd if={dev} bs=65536 skip={index * BLOCKS} count={BLOCKS} "
                   "iflag=direct 2>/dev/null | sha256sum")
    return out.split()[0]


def assert_guest_reads(guest, expected):
    assert {i: read_region(guest, i) for i in expected} == expected


class Volume:
    """One attached volume (the guest's disk ``disk``, 1 for vdb) and
    Cinder's side of it, as remotefs keeps it."""

    def __init__(self, cinder, guest, disk=1):
        self.cinder = cinder
        self.guest = guest
        self.id = guest.disks[disk].serial
        self.target = guest.disks[disk].target
        self.dev = f"/dev/{self.target}"
        self.dir = guest.dir
        self.info = {"active": f"volume-{self.id}"}

    def path(self, name):
        return os.path.join(self.dir, name)

    @property
    def active(self):
        return self.path(self.info["active"])

    def disk_source(self):
        return lh.active_disks(self.guest)[self.target]

    def defined_source(self):
        """The file the domain's persistent definition starts the disk on."""
        xml = self.guest.lookup().XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        return {d.target: d.source for d in lxml_xml.disks(xml)}[self.target]

    def backing_name(self, name):
        return image_info(self.path(name))[0].get("backing-filename")

    def new_overlay(self, backing_absolute=False):
        """Cinder's part of a create: a snapshot row, and the new file backed
        by the active one (by relative name, as remotefs makes it)."""
        snapshot_id = self.cinder.create_snapshot(self.id, status="creating")
        new_file = f"volume-{self.id}.{snapshot_id}"
        backing = self.active if backing_absolute else self.info["active"]
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2",
                        "-b", backing, self.path(new_file)], check=True,
                       capture_output=True, timeout=60)
        return snapshot_id, new_file

    def snapshotted(self, snapshot_id, new_file):
        """What Cinder records once nativesnap said 'creating 90%'."""
        self.info[snapshot_id] = new_file
        self.info["active"] = new_file

    def delete_plan(self, snapshot_id):
        """Cinder's _delete_snapshot for an in-use volume: (delete_info, the
        file it removes afterwards); the chain record is updated as Cinder
        does."""
        snapshot_file = self.info[snapshot_id]
        base_file = self.backing_name(snapshot_file)
        base_id = next((k for k, v in self.info.items()
                        if v == base_file and k != "active"), None)
        if snapshot_file == self.info["active"]:
            # Pull into the active file; base null when the oldest goes.
            new_base = None if base_id is None else self.backing_name(base_file)
            if base_id is not None:
                self.info[base_id] = snapshot_file
            plan = {"file_to_merge": new_base, "merge_target_file": None}
            to_remove = base_file
        else:
            plan = {"file_to_merge": snapshot_file, "merge_target_file": base_file}
            to_remove = snapshot_file
        del self.info[snapshot_id]
        plan.update(type="qcow2", volume_id=self.id)
        return plan, to_remove


def volume_guest(make, cinder, boot=True, volumes=1):
    """A guest whose disks after vda are Cinder volumes: ``volume-<id>`` (an
    empty qcow2, a raw block device to the guest) with the volume id as its
    serial, each volume's row made in Cinder first."""
    specs = [None]
    for _ in range(volumes):
        volume_id = cinder.create_volume(status="in-use",
                                         volume_id=str(uuid.uuid4()))
        specs.append(guestlib.DiskSpec(file_name=f"volume-{volume_id}",
                                       serial=volume_id, blank_size=VOLUME_SIZE))
    return make(disks=specs, boot=boot)

"""Cinder's assisted volume snapshots, end to end with real peers.

nativesnap-api (libvirt driver, qemu:///system) is driven by python-novaclient's
own ``assisted_volume_snapshots`` manager, the code Cinder's remotefs drivers
use, pinned to compute 2.1 at ``<nativesnap>/v2.1``. Its callbacks go to a real
cinder-api (``tests/cinder_fixtures.py``) whose database is read back. The test
guest has a "volume" disk: a qcow2 file ``volume-<volume id>`` whose
``<serial>`` is the volume id, and the test does Cinder's part as
``cinder/volume/drivers/remotefs.py`` does it: it makes each new overlay
(``volume-<volume id>.<snapshot id>``, backing file named relatively), keeps the
chain record (snapshot id -> file, "active"), works out each ``delete_info``
and removes the merged file afterwards.

Data are written inside the guest onto the volume's raw block device, 1 MiB
regions of random bytes, and checked inside the guest (page cache dropped) and
in the files themselves (``qemu-img convert`` to raw).
"""

import hashlib
import json
import os
import subprocess
import time
import uuid

from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
from novaclient import client as nova_client
from novaclient import exceptions as nova_exc
import libvirt
import pytest
import requests

from nativesnap.virt.libvirt import xml as lxml_xml
from tests import fixtures
from tests import guest as guestlib
from tests.functional import libvirt_helpers as lh

pytest_plugins = ["tests.functional.guest_fixtures", "tests.cinder_fixtures"]

REGION = 1 << 20  # bytes per region written in the guest
BLOCKS = REGION // 65536
VOLUME_SIZE = "64M"
WAIT = 60  # bound of every wait for Cinder's database or nativesnap


# --- the peers -----------------------------------------------------------------


def start_api(tmp_path_factory, cinder, name, **libvirt_options):
    state = str(tmp_path_factory.mktemp(name))
    extra = cinder.nativesnap_conf()
    if libvirt_options:
        extra["libvirt"] = {k: str(v) for k, v in libvirt_options.items()}
    api = fixtures.APIServer(state, fixtures.sqlite_url(state),
                             drivers=("libvirt",), extra_conf=extra)
    api.manage("db", "sync")
    return api.start()


@pytest.fixture(scope="module")
def avs_api(tmp_path_factory, cinder):
    api = start_api(tmp_path_factory, cinder, "api-avs")
    yield api
    api.stop()


def admin_token(cinder):
    # Cinder's privileged user calls Nova; nativesnap calls Cinder back in
    # that caller's project, the project of the snapshot rows.
    return f"admin:{cinder.project_id}"


def nova(api, token):
    """python-novaclient as Cinder makes it: compute 2.1, a Nova endpoint."""
    endpoint = api.url + "/v2.1"
    sess = ks_session.Session(auth=token_endpoint.Token(endpoint, token))
    return nova_client.Client("2.1", session=sess, endpoint_override=endpoint)


def _snapshot_action(cinder, snapshot_id, body):
    resp = requests.post(
        f"{cinder.endpoint}/{cinder.project_id}/snapshots/{snapshot_id}/action",
        headers={"X-Auth-Token": admin_token(cinder)}, json=body, timeout=30)
    assert resp.status_code == 202, resp.text


def cinder_deleting(cinder, snapshot_id):
    """Cinder's snapshot moved to ``deleting`` at 0%, as Cinder has it when it
    asks for the merge (through Cinder's own admin API)."""
    _snapshot_action(cinder, snapshot_id, {"os-reset_status": {"status": "deleting"}})
    _snapshot_action(cinder, snapshot_id, {"os-update_snapshot_status": {
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
        if found and found[0]["status"] != "running":
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
    """One attached volume and Cinder's side of it, as remotefs keeps it."""

    def __init__(self, cinder, guest):
        self.cinder = cinder
        self.guest = guest
        self.id = guest.disks[1].serial
        self.dir = guest.dir
        self.info = {"active": f"volume-{self.id}"}

    def path(self, name):
        return os.path.join(self.dir, name)

    @property
    def active(self):
        return self.path(self.info["active"])

    def disk_source(self):
        return lh.active_disks(self.guest)["vdb"]

    def defined_source(self):
        """The file the domain's persistent definition starts vdb on."""
        xml = self.guest.lookup().XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        return {d.target: d.source for d in lxml_xml.disks(xml)}["vdb"]

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


def volume_guest(make, cinder, boot=True):
    """A guest whose vdb is a Cinder volume: ``volume-<id>`` (an empty qcow2,
    a raw block device to the guest) with the volume id as its serial, the
    volume's row made in Cinder first."""
    volume_id = cinder.create_volume(status="in-use", volume_id=str(uuid.uuid4()))
    return make(disks=[None, guestlib.DiskSpec(
        file_name=f"volume-{volume_id}", serial=volume_id,
        blank_size=VOLUME_SIZE)], boot=boot)


# --- create, then delete the older and the newest snapshots --------------------


def test_create_and_both_delete_shapes_keep_cinder_s_chain_and_the_guest_s_data(
        avs_api, cinder, make_guest, tmp_path):
    guest = volume_guest(make_guest, cinder)
    server = lh.adopt(avs_api, guest)
    volume = Volume(cinder, guest)
    client = nova(avs_api, admin_token(cinder))
    base = f"volume-{volume.id}"
    data = {0: write_region(guest, 0)}

    # Create S1: the guest goes on writing to the new overlay; the old file
    # holds the data of the snapshot's instant.
    s1, s1_file = volume.new_overlay()
    answer = client.assisted_volume_snapshots.create(
        volume.id, {"snapshot_id": s1, "type": "qcow2", "new_file": s1_file})
    assert (answer.id, answer.volumeId) == (None, volume.id)
    wait_cinder(cinder, s1, "creating")
    volume.snapshotted(s1, s1_file)
    assert volume.disk_source() == volume.path(s1_file)
    assert volume.defined_source() == volume.path(s1_file)  # also after a restart
    assert chain_names(volume.disk_source()) == [s1_file, base]
    at_s1 = dict(data)
    data[0] = write_region(guest, 0)  # overwritten after the snapshot
    data[1] = write_region(guest, 1)
    assert data[0] != at_s1[0]
    assert region_of_file(volume.path(base), 0, tmp_path) == at_s1[0]
    assert region_of_file(volume.path(s1_file), 0, tmp_path) == data[0]
    assert image_info(volume.path(s1_file))[0]["actual-size"] >= 2 * REGION

    # S2 and S3, with data written after each.
    s2, s2_file = volume.new_overlay()
    client.assisted_volume_snapshots.create(
        volume.id, {"snapshot_id": s2, "type": "qcow2", "new_file": s2_file})
    wait_cinder(cinder, s2, "creating")
    volume.snapshotted(s2, s2_file)
    at_s2 = dict(data)
    data[2] = write_region(guest, 2)
    s3, s3_file = volume.new_overlay()
    client.assisted_volume_snapshots.create(
        volume.id, {"snapshot_id": s3, "type": "qcow2", "new_file": s3_file})
    wait_cinder(cinder, s3, "creating")
    volume.snapshotted(s3, s3_file)
    data[3] = write_region(guest, 3)
    assert chain_names(volume.active) == [s3_file, s2_file, s1_file, base]
    assert_guest_reads(guest, data)

    # Delete the oldest snapshot, S1, whose overlay is not active: Cinder asks
    # to commit S1's overlay into the base file.
    plan, gone = volume.delete_plan(s1)
    assert plan["merge_target_file"] == base and plan["file_to_merge"] == s1_file
    cinder_deleting(cinder, s1)
    client.assisted_volume_snapshots.delete(s1, plan)
    wait_cinder(cinder, s1, "deleting")
    os.unlink(volume.path(gone))
    assert chain_names(volume.active) == [s3_file, s2_file, base]
    # S2's data (the backing file of its overlay) is still S2's instant.
    assert region_of_file(volume.path(base), 0, tmp_path) == at_s2[0]
    assert region_of_file(volume.path(base), 1, tmp_path) == at_s2[1]
    assert_guest_reads(guest, data)

    # Delete the newest, S3, whose overlay is the active file: a pull of S2's
    # overlay into it, onto the base file.
    plan, gone = volume.delete_plan(s3)
    assert plan == {"file_to_merge": base, "merge_target_file": None,
                    "type": "qcow2", "volume_id": volume.id}
    cinder_deleting(cinder, s3)
    client.assisted_volume_snapshots.delete(s3, plan)
    wait_cinder(cinder, s3, "deleting")
    os.unlink(volume.path(gone))
    assert chain_names(volume.active) == [s3_file, base]
    assert_guest_reads(guest, data)
    assert {i: region_of_file(volume.active, i, tmp_path) for i in data} == data

    # Delete the last one, S2 (its record names the active file now): the
    # oldest goes, so the pull has no base and the active file stands alone.
    plan, gone = volume.delete_plan(s2)
    assert plan["file_to_merge"] is None and plan["merge_target_file"] is None
    cinder_deleting(cinder, s2)
    client.assisted_volume_snapshots.delete(s2, plan)
    wait_cinder(cinder, s2, "deleting")
    os.unlink(volume.path(gone))
    assert chain_names(volume.active) == [s3_file]
    assert volume.defined_source() == volume.active
    assert_guest_reads(guest, data)
    # Durable: read from outside, the file Cinder keeps holds every byte
    # (QEMU's cached mappings were flushed before Cinder heard back).
    assert {i: region_of_file(volume.active, i, tmp_path) for i in data} == data
    assert guest.lookup().isActive()

    # The admin listing holds all six requests, who asked and how they ended.
    ops = operations(avs_api, cinder, volume_id=volume.id)
    assert [(op["action"], op["snapshot_id"]) for op in reversed(ops)] == [
        ("create", s1), ("create", s2), ("create", s3),
        ("delete", s1), ("delete", s3), ("delete", s2)]
    for op in ops:
        assert op["status"] == "succeeded", op
        assert op["server_id"] == server["id"] and op["disk"] == "vdb"
        assert op["requested_by"]["project_id"] == cinder.project_id
        assert op["callback"]["delivered"] is True
        assert op["duration_ms"] >= 0 and op["finished_at"]
    assert ops[-1]["files"]["new_file"] == volume.path(s1_file)
    assert ops[0]["files"]["method"] == "pull"
    assert ops[0]["files"]["flush_ms"] >= 0  # the guest paused that long
    assert ops[2]["files"]["method"] == "commit"
    assert all(op["callback"]["status"] == "deleting" for op in ops[:3])


# --- requests refused, and merges that fail ------------------------------------


@pytest.fixture(scope="module")
def failing(avs_api, cinder, make_module_guest):
    """One guest for the failure cases: one snapshot taken, data written."""
    guest = volume_guest(make_module_guest, cinder)
    lh.adopt(avs_api, guest)
    volume = Volume(cinder, guest)
    client = nova(avs_api, admin_token(cinder))
    data = {0: write_region(guest, 0)}
    snapshot_id, new_file = volume.new_overlay()
    client.assisted_volume_snapshots.create(
        volume.id, {"snapshot_id": snapshot_id, "type": "qcow2",
                    "new_file": new_file})
    wait_cinder(cinder, snapshot_id, "creating")
    volume.snapshotted(snapshot_id, new_file)
    data[1] = write_region(guest, 1)
    return guest, volume, client, data, snapshot_id


def assert_untouched(failing_case, chain, files):
    guest, volume, _client, data, _sid = failing_case
    assert guest.lookup().isActive()
    assert chain_names_any(volume.active) == chain
    assert volume.disk_source() == volume.active
    assert sorted(os.listdir(volume.dir)) == files
    assert_guest_reads(guest, data)


def test_an_unknown_volume_answers_400(failing, cinder):
    guest, volume, client, _data, _sid = failing
    chain, files = chain_names_any(volume.active), sorted(os.listdir(volume.dir))
    with pytest.raises(nova_exc.BadRequest) as info:
        client.assisted_volume_snapshots.create(
            str(uuid.uuid4()), {"snapshot_id": str(uuid.uuid4()), "type": "qcow2",
                                "new_file": "volume-x.y"})
    assert info.value.code == 400 and "not attached" in str(info.value)
    assert_untouched(failing, chain, files)


def test_a_caller_without_the_admin_or_service_role_gets_403(failing, avs_api,
                                                             cinder):
    _guest, volume, _client, _data, snapshot_id = failing
    chain, files = chain_names_any(volume.active), sorted(os.listdir(volume.dir))
    member = nova(avs_api, f"alice:{cinder.project_id}")
    with pytest.raises(nova_exc.Forbidden):
        member.assisted_volume_snapshots.create(
            volume.id, {"snapshot_id": str(uuid.uuid4()), "type": "qcow2",
                        "new_file": f"volume-{volume.id}.x"})
    with pytest.raises(nova_exc.Forbidden):
        member.assisted_volume_snapshots.delete(snapshot_id, {
            "type": "qcow2", "volume_id": volume.id, "file_to_merge": None,
            "merge_target_file": None})
    assert_untouched(failing, chain, files)


@pytest.mark.parametrize("new_file", ["../escaped", "sub/volume-x", "/tmp/abs",
                                      "..", "volume-x\n"])
def test_a_new_file_with_a_path_answers_400_and_nothing_is_created(
        failing, cinder, new_file):
    _guest, volume, client, _data, _sid = failing
    chain, files = chain_names_any(volume.active), sorted(os.listdir(volume.dir))
    parent = sorted(os.listdir(os.path.dirname(volume.dir)))
    snapshot_id = cinder.create_snapshot(volume.id, status="creating")
    with pytest.raises(nova_exc.BadRequest) as info:
        client.assisted_volume_snapshots.create(
            volume.id, {"snapshot_id": snapshot_id, "type": "qcow2",
                        "new_file": new_file})
    assert "new_file" in str(info.value)
    assert_untouched(failing, chain, files)
    assert sorted(os.listdir(os.path.dirname(volume.dir))) == parent
    assert cinder.snapshot(snapshot_id)["status"] == "creating"


def _failed_merge(failing, cinder, avs_api, plan):
    guest, volume, client, _data, snapshot_id = failing
    chain, files = chain_names_any(volume.active), sorted(os.listdir(volume.dir))
    cinder_deleting(cinder, snapshot_id)
    client.assisted_volume_snapshots.delete(snapshot_id, dict(
        plan, type="qcow2", volume_id=volume.id))
    wait_cinder(cinder, snapshot_id, "error_deleting")
    op = [o for o in operations(avs_api, cinder, volume_id=volume.id)
          if o["action"] == "delete"][0]
    assert op["status"] == "failed" and op["callback"]["status"] == "error_deleting"
    assert_untouched(failing, chain, files)
    return op


def test_a_merge_naming_a_file_outside_the_chain_tells_cinder_error_deleting(
        failing, cinder, avs_api):
    _guest, volume, *_ = failing
    op = _failed_merge(failing, cinder, avs_api, {
        "file_to_merge": f"volume-{volume.id}.not-a-snapshot",
        "merge_target_file": f"volume-{volume.id}"})
    assert "not in the chain" in op["fault"]["message"]


def test_a_merge_into_a_file_that_is_not_a_backing_file_tells_cinder_error_deleting(
        failing, cinder, avs_api):
    _guest, volume, _client, _data, snapshot_id = failing
    # Reversed: the base file "into" the overlay above it.
    op = _failed_merge(failing, cinder, avs_api, {
        "file_to_merge": f"volume-{volume.id}",
        "merge_target_file": volume.info[snapshot_id]})
    assert "is not a backing file" in op["fault"]["message"]


def test_a_block_job_libvirt_refuses_tells_cinder_error_deleting(
        failing, cinder, avs_api):
    guest, volume, client, data, _sid = failing
    # A snapshot whose overlay names its backing file by absolute path: a
    # relative commit through it is refused by libvirt itself.
    snapshot_id, new_file = volume.new_overlay(backing_absolute=True)
    client.assisted_volume_snapshots.create(
        volume.id, {"snapshot_id": snapshot_id, "type": "qcow2",
                    "new_file": new_file})
    wait_cinder(cinder, snapshot_id, "creating")
    volume.snapshotted(snapshot_id, new_file)
    data[2] = write_region(guest, 2)
    later, later_file = volume.new_overlay()
    client.assisted_volume_snapshots.create(
        volume.id, {"snapshot_id": later, "type": "qcow2", "new_file": later_file})
    wait_cinder(cinder, later, "creating")
    volume.snapshotted(later, later_file)
    chain, files = chain_names_any(volume.active), sorted(os.listdir(volume.dir))
    cinder_deleting(cinder, snapshot_id)
    client.assisted_volume_snapshots.delete(snapshot_id, {
        "type": "qcow2", "volume_id": volume.id, "file_to_merge": new_file,
        "merge_target_file": volume.backing_name(new_file).rsplit("/", 1)[-1]})
    wait_cinder(cinder, snapshot_id, "error_deleting")
    op = [o for o in operations(avs_api, cinder, volume_id=volume.id)
          if o["snapshot_id"] == snapshot_id and o["action"] == "delete"][0]
    assert "relative" in op["fault"]["message"]
    assert guest.lookup().isActive()
    assert chain_names_any(volume.active) == chain
    assert sorted(os.listdir(volume.dir)) == files
    assert_guest_reads(guest, data)


# --- quiesce ---------------------------------------------------------------------


def test_quiesce_required_with_no_agent_tells_cinder_error_and_keeps_the_chain(
        tmp_path_factory, cinder, make_guest):
    api = start_api(tmp_path_factory, cinder, "api-avs-quiesce",
                    volume_snapshot_quiesce="required")
    try:
        guest = volume_guest(make_guest, cinder)
        lh.adopt(api, guest)
        volume = Volume(cinder, guest)
        guest.stop_agent()
        client = nova(api, admin_token(cinder))
        snapshot_id, new_file = volume.new_overlay()
        client.assisted_volume_snapshots.create(
            volume.id, {"snapshot_id": snapshot_id, "type": "qcow2",
                        "new_file": new_file})
        wait_cinder(cinder, snapshot_id, "error")
        op = wait_operation(api, cinder, volume.id, snapshot_id, "create")
        assert op["status"] == "failed" and "quiesce" in op["fault"]["message"]
        assert guest.lookup().isActive()
        assert volume.disk_source() == volume.path(f"volume-{volume.id}")
        assert chain_names(volume.disk_source()) == [f"volume-{volume.id}"]
        assert os.path.exists(volume.path(new_file))  # Cinder's to remove
    finally:
        api.stop()


# --- the server shut off, and commits of the active file --------------------------


def qemu_io_write(path, pattern, index):
    subprocess.run(["qemu-io", "-f", "qcow2", "-c",
                    f"write -q -P {pattern} {index * REGION} {REGION}", path],
                   check=True, capture_output=True, timeout=60)
    return hashlib.sha256(bytes([pattern]) * REGION).hexdigest()


def test_server_off_create_and_pull_work_offline_and_an_active_commit_pivots(
        avs_api, cinder, make_guest, tmp_path):
    guest = volume_guest(make_guest, cinder, boot=False)
    guest.define()
    lh.adopt(avs_api, guest)
    volume = Volume(cinder, guest)
    client = nova(avs_api, admin_token(cinder))
    base = f"volume-{volume.id}"
    data = {0: qemu_io_write(volume.active, 0x11, 0)}

    # Create with the domain shut off: libvirt points its definition at the
    # new file, as it does for Nova; nothing to freeze.
    s1, s1_file = volume.new_overlay()
    client.assisted_volume_snapshots.create(
        volume.id, {"snapshot_id": s1, "type": "qcow2", "new_file": s1_file})
    wait_cinder(cinder, s1, "creating")
    volume.snapshotted(s1, s1_file)
    assert volume.disk_source() == volume.path(s1_file)
    op = wait_operation(avs_api, cinder, volume.id, s1, "create")
    assert op["files"]["consistency"] == "offline"
    data[0] = qemu_io_write(volume.active, 0x22, 0)  # what the guest would write
    data[1] = qemu_io_write(volume.active, 0x33, 1)
    s2, s2_file = volume.new_overlay()
    client.assisted_volume_snapshots.create(
        volume.id, {"snapshot_id": s2, "type": "qcow2", "new_file": s2_file})
    wait_cinder(cinder, s2, "creating")
    volume.snapshotted(s2, s2_file)
    data[2] = qemu_io_write(volume.active, 0x44, 2)

    # Committing an intermediate file needs the guest running: 400, as Nova.
    with pytest.raises(nova_exc.BadRequest) as info:
        client.assisted_volume_snapshots.delete(s1, {
            "type": "qcow2", "volume_id": volume.id, "file_to_merge": s1_file,
            "merge_target_file": base})
    assert "shut off" in str(info.value)
    assert chain_names(volume.active) == [s2_file, s1_file, base]

    # A pull works offline (qemu-img rebase), relative names kept.
    plan, gone = volume.delete_plan(s2)
    assert plan["file_to_merge"] == base and plan["merge_target_file"] is None
    cinder_deleting(cinder, s2)
    client.assisted_volume_snapshots.delete(s2, plan)
    wait_cinder(cinder, s2, "deleting")
    os.unlink(volume.path(gone))
    assert chain_names(volume.active) == [s2_file, base]
    assert {i: region_of_file(volume.active, i, tmp_path) for i in data} == data
    assert wait_operation(avs_api, cinder, volume.id, s2, "delete")["files"][
        "method"] == "qemu-img rebase"

    # Committing the active file offline (qemu-img commit) leaves the
    # definition on the file below it.
    extra = cinder.create_snapshot(volume.id, status="deleting")
    client.assisted_volume_snapshots.delete(extra, {
        "type": "qcow2", "volume_id": volume.id, "file_to_merge": s2_file,
        "merge_target_file": base})
    wait_cinder(cinder, extra, "deleting")
    assert volume.disk_source() == volume.path(base)
    assert chain_names(volume.path(base)) == [base]
    assert {i: region_of_file(volume.path(base), i, tmp_path)
            for i in data} == data

    # The guest boots on that chain and reads the data; then the same commit
    # of the active file with the guest running is an active commit + pivot.
    guest.start()
    assert_guest_reads(guest, data)
    volume.info = {"active": base}
    s3, s3_file = volume.new_overlay()
    client.assisted_volume_snapshots.create(
        volume.id, {"snapshot_id": s3, "type": "qcow2", "new_file": s3_file})
    wait_cinder(cinder, s3, "creating")
    op = wait_operation(avs_api, cinder, volume.id, s3, "create")
    assert op["files"]["consistency"] == "application"
    assert op["files"]["frozen_ms"] is not None
    data[3] = write_region(guest, 3)
    cinder_deleting(cinder, s3)
    client.assisted_volume_snapshots.delete(s3, {
        "type": "qcow2", "volume_id": volume.id, "file_to_merge": s3_file,
        "merge_target_file": base})
    wait_cinder(cinder, s3, "deleting")
    assert volume.disk_source() == volume.path(base)
    assert volume.defined_source() == volume.path(base)
    assert wait_operation(avs_api, cinder, volume.id, s3, "delete")["files"][
        "method"] == "active commit"
    assert_guest_reads(guest, data)
    assert {i: region_of_file(volume.path(base), i, tmp_path)
            for i in data} == data

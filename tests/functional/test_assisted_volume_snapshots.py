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
import os
import subprocess
import uuid

from novaclient import exceptions as nova_exc
import pytest

from tests.functional import libvirt_helpers as lh
from tests.functional.assisted_volume_helpers import (
    admin_token,
    assert_guest_reads,
    chain_names,
    chain_names_any,
    cinder_deleting,
    image_info,
    nova,
    operations,
    REGION,
    region_of_file,
    start_api,
    Volume,
    volume_guest,
    wait_cinder,
    wait_operation,
    write_region)

pytest_plugins = ["tests.functional.guest_fixtures", "tests.cinder_fixtures"]

@pytest.fixture(scope="module")
def avs_api(tmp_path_factory, cinder):
    api = start_api(tmp_path_factory, cinder, "api-avs")
    yield api
    api.stop()


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

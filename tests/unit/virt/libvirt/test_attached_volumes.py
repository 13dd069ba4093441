"""Attached Cinder volumes: recognised by a volume-UUID serial, their new
files named and recorded the way Cinder's remotefs drivers do, reverted in
place so Cinder's record of the chain stays true."""

import json
import os
import subprocess

import pytest

from nativesnap import exception
from nativesnap.virt.libvirt import attached_volumes
from nativesnap.virt.libvirt import xml as lxml_xml

VOL = "6a1f3c1e-8a47-4b0e-9c55-0f3e2d1c0b9a"
SNAP = "0b7e5a52-3f55-4e4c-8a9f-6d2b1c0e9f11"


def _disk(target, source, serial):
    return lxml_xml.Disk(target=target, device="disk", type="file",
                         driver_type="qcow2", source=source, protocol=None,
                         serial=serial, readonly=False, shareable=False)


def _qcow2(path, backing=None):
    args = ["qemu-img", "create", "-q", "-f", "qcow2"]
    if backing:
        args += ["-F", "qcow2", "-b", backing]
    subprocess.run(args + [str(path), "16M"], check=True, capture_output=True)


def _backing(path):
    out = subprocess.run(["qemu-img", "info", "--output=json", "-U", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out).get("backing-filename")


def test_only_disks_with_a_volume_uuid_serial_are_volumes():
    own, volumes = attached_volumes.split([
        _disk("vda", "/x/root.qcow2", "0123456789abcdef0123"),
        _disk("vdb", "/x/v.qcow2", VOL.upper()),
        _disk("vdc", "/x/n.qcow2", None)])
    assert [d.target for d in own] == ["vda", "vdc"]
    assert {t: v for t, (_d, v) in volumes.items()} == {"vdb": VOL}


def test_overlay_is_named_like_cinder_and_backs_onto_the_file_by_relative_name(tmp_path):
    base = tmp_path / f"volume-{VOL}"
    _qcow2(base)
    os.chmod(base, 0o660)
    path = attached_volumes.create_overlay(_disk("vdb", str(base), VOL), VOL, SNAP)
    assert path == str(tmp_path / f"volume-{VOL}.{SNAP}")
    assert _backing(path) == f"volume-{VOL}"  # relative, as Cinder writes it
    assert os.stat(path).st_mode & 0o777 == 0o660


def test_an_existing_file_is_never_overwritten(tmp_path):
    base = tmp_path / f"volume-{VOL}"
    _qcow2(base)
    (tmp_path / f"volume-{VOL}.{SNAP}").write_text("cinder's")
    with pytest.raises(exception.Invalid):
        attached_volumes.create_overlay(_disk("vdb", str(base), VOL), VOL, SNAP)
    assert (tmp_path / f"volume-{VOL}.{SNAP}").read_text() == "cinder's"


def test_cinder_info_file_gains_the_snapshot_and_the_new_active_file(tmp_path):
    info = tmp_path / f"volume-{VOL}.info"
    info.write_text(json.dumps({"active": f"volume-{VOL}", "other": "x"}))
    os.chmod(info, 0o640)
    assert attached_volumes.record_in_info_file(str(tmp_path), VOL, SNAP,
                                                str(tmp_path / f"volume-{VOL}.{SNAP}"))
    assert json.loads(info.read_text()) == {
        "active": f"volume-{VOL}.{SNAP}", SNAP: f"volume-{VOL}.{SNAP}", "other": "x"}
    assert os.stat(info).st_mode & 0o777 == 0o640
    assert sorted(os.listdir(tmp_path)) == [f"volume-{VOL}.info"]  # no temp left


def test_without_an_info_file_nothing_is_written(tmp_path):
    assert not attached_volumes.record_in_info_file(str(tmp_path), VOL, SNAP, "f")
    assert os.listdir(tmp_path) == []


def test_revert_empties_the_overlay_in_place_and_keeps_its_name(tmp_path):
    base = tmp_path / f"volume-{VOL}"
    _qcow2(base)
    overlay = tmp_path / f"volume-{VOL}.{SNAP}"
    _qcow2(overlay, backing=base.name)
    subprocess.run(["qemu-io", "-c", "write -P 7 0 1M", str(overlay)], check=True,
                   capture_output=True)
    record = {"volume_id": VOL, "snapshot_id": SNAP, "frozen": str(base),
              "overlay": str(overlay)}
    attached_volumes.check_revertible("vdb", record, str(overlay))
    attached_volumes.reset_overlay(record)
    assert _backing(overlay) == base.name
    out = subprocess.run(["qemu-io", "-c", "read -P 0 0 1M", str(overlay)],
                         capture_output=True, text=True)
    assert "Pattern verification failed" not in out.stdout + out.stderr
    assert out.returncode == 0


def test_revert_is_refused_once_the_volume_chain_moved_on(tmp_path):
    record = {"volume_id": VOL, "snapshot_id": SNAP, "frozen": "/nonexistent",
              "overlay": str(tmp_path / "a")}
    with pytest.raises(exception.VolumeConflict) as e:
        attached_volumes.check_revertible("vdb", record, str(tmp_path / "b"))
    assert e.value.code == 409 and "latest snapshot" in e.value.message

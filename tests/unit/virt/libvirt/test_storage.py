"""Disk backends: each disk of a domain finds its backend or is refused with
its target named; a snapshot record's reference finds the backend that made
it; the qcow2 backend's overlays, copies and exports hold the frozen state
(real qemu-img on small files)."""

import json
import subprocess

import pytest

from nativesnap import exception
from nativesnap.virt.libvirt import storage
from nativesnap.virt.libvirt import xml as lxml_xml


def _disk(target, source, disk_type="file", driver_type="qcow2",
          protocol=None):
    return lxml_xml.Disk(target=target, device="disk", type=disk_type,
                         driver_type=driver_type, source=source,
                         protocol=protocol, serial=None, readonly=False,
                         shareable=False)


def _qcow2(path):
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "16M"],
                   check=True, capture_output=True)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 1M",
                    str(path)], check=True, capture_output=True)


def _info(path):
    return json.loads(subprocess.run(
        ["qemu-img", "info", "--output=json", "-U", str(path)], check=True,
        capture_output=True, text=True).stdout)


def _same(a, b):
    return subprocess.run(["qemu-img", "compare", "-U", str(a), str(b)],
                          capture_output=True).returncode == 0


def test_a_qcow2_file_disk_has_the_qcow2_backend():
    backend = storage.backend_for(_disk("vda", "/x/a.qcow2"))
    assert isinstance(backend, storage.Qcow2File) and backend.format == "qcow2"
    assert storage.backend_of("/x/a.qcow2") is backend


@pytest.mark.parametrize("disk,said", [
    (_disk("vdb", "iqn.2026-12.example:disk/0", "network", "raw", "iscsi"),
     "disk vdb is a iscsi network disk"),
    (_disk("vdc", "/x/a.raw", driver_type="raw"),
     "disk vdc is a raw-format file disk"),
    (_disk("vdd", "/dev/sdz", "block", "raw"), "disk vdd is a raw-format block"),
])
def test_a_disk_no_backend_takes_is_refused_naming_it(disk, said):
    with pytest.raises(exception.Invalid) as raised:
        storage.backend_for(disk)
    assert said in str(raised.value)


def test_an_rbd_disk_has_the_rbd_backend_and_its_references_are_its_own():
    disk = _disk("vdb", "vms/web1-disk", "network", "raw", "rbd")
    backend = storage.backend_for(disk)
    assert backend is storage.RBD and backend.format == "raw"
    assert backend.prepare(disk, "/unused", "snap-1") is None  # taken in the window
    reference = backend.reference(disk, "snap-1")
    assert reference == {"backend": "rbd", "pool": "vms",
                         "image": "web1-disk", "snapshot": "snap-1"}
    assert storage.backend_of(reference) is backend
    assert backend.revert_source(reference, "/unused", "task", "vdb") is None


@pytest.mark.parametrize("name", [
    "vms", "vms/", "/img", "vms/img@snap", "vms/img:conf=/etc/passwd",
    "vms/a/b", "v ms/img"])
def test_an_rbd_source_that_is_not_a_plain_pool_and_image_is_refused(name):
    with pytest.raises(exception.Invalid) as raised:
        storage.RbdImage.split(name)
    assert repr(name) in str(raised.value)


def test_a_reference_no_backend_made_is_refused():
    with pytest.raises(exception.Invalid):
        storage.backend_of({"pool": "vms", "image": "x"})


def test_qcow2_create_revert_spawn_and_export_hold_the_frozen_state(tmp_path):
    backend = storage.Qcow2File()
    base = tmp_path / "base.qcow2"
    _qcow2(base)
    disk = _disk("vda", str(base))
    overlay = backend.prepare(disk, str(tmp_path), "snap-1")
    assert overlay == str(tmp_path / "snap-1-vda.qcow2")
    assert _info(overlay)["backing-filename"] == str(base)
    reference = backend.reference(disk, "snap-1")
    assert reference == str(base) and backend.allocated_bytes(reference) > 0
    reverted = backend.revert_source(reference, str(tmp_path), "task-1", "vda")
    assert _info(reverted)["backing-filename"] == str(base)
    linked, flatten = backend.spawn_source(reference, str(tmp_path), True,
                                           lambda p: None)
    assert _info(linked)["backing-filename"] == str(base) and flatten is None
    seen = []
    full, flatten = backend.spawn_source(reference, str(tmp_path), False,
                                         seen.append)
    assert "backing-filename" not in _info(full) and _same(full, base)
    assert flatten is None  # a file copy is complete when the spawn ends
    exported = tmp_path / "export.qcow2"
    digest = backend.export(reference, str(exported), lambda p: None, "qcow2")
    assert len(digest) == 64 and _same(exported, base)
    raw = tmp_path / "export.raw"
    backend.export(reference, str(raw), lambda p: None, "raw")
    assert _info(raw)["format"] == "raw" and _same(raw, base)
    with pytest.raises(storage.CloneRefused):
        backend.export_clone(reference, "an-image-id")
    # A failed create removes the overlay, unless the domain reads it.
    backend.undo(overlay, in_use={overlay})
    assert (tmp_path / "snap-1-vda.qcow2").exists()

"""The libvirt side of assisted volume snapshots, without libvirtd: the disk is
found by its serial, what cannot be done is refused with 400 before anything
is touched, and an offline commit points the definition at the merged file.
(tests/functional/test_assisted_volume_snapshots.py runs the real thing.)"""

import subprocess

import pytest

from nativesnap import exception
from nativesnap.virt.libvirt import volume
from nativesnap.virt.libvirt import xml as lxml_xml

VOLUME = "0b1a4c8e-7f0e-4c38-9a55-9d5f4f1e2c3a"


def domain_xml(directory, volume_disk_type="file"):
    source = (f"<source file='{directory}/volume-{VOLUME}'/>"
              if volume_disk_type == "file" else
              f"<source protocol='gluster' name='vol/volume-{VOLUME}'/>")
    return f"""<domain type='qemu'><name>d</name><devices>
      <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
        <source file='{directory}/root.qcow2'/><target dev='vda' bus='virtio'/>
        <serial>0b1a4c8e7f0e4c389a55</serial></disk>
      <disk type='{volume_disk_type}' device='disk'>
        <driver name='qemu' type='qcow2'/>{source}
        <backingStore type='file'><source file='/x/old'/></backingStore>
        <target dev='vdb' bus='virtio'/><serial> {VOLUME.upper()} </serial></disk>
      <disk type='file' device='cdrom'><source file='/a/cd.iso'/>
        <target dev='hdc' bus='ide'/><serial>{VOLUME}</serial><readonly/></disk>
    </devices></domain>"""


class StubDomain:
    def __init__(self, xml, active=True):
        self.xml = xml
        self.active = active

    def XMLDesc(self, flags):
        return self.xml

    def isActive(self):
        return self.active


@pytest.fixture
def assisted():
    return volume.AssistedVolumes(host=None)


def test_the_volume_s_disk_is_the_disk_whose_serial_is_its_id(assisted, tmp_path):
    disk = assisted.find_disk(StubDomain(domain_xml(tmp_path)), VOLUME)
    assert (disk.volume_id, disk.target, disk.type, disk.driver_type) == (
        VOLUME, "vdb", "file", "qcow2")
    assert disk.source == f"{tmp_path}/volume-{VOLUME}"
    assert assisted.find_disk(StubDomain(domain_xml(tmp_path)),
                              "11111111-2222-3333-4444-555555555555") is None


def test_a_network_volume_disk_is_refused_with_400(assisted, tmp_path):
    dom = StubDomain(domain_xml(tmp_path, "network"))
    disk = assisted.find_disk(dom, VOLUME)
    with pytest.raises(exception.Invalid) as info:
        assisted.validate_create(dom, disk, {"new_file": "volume-x.y"})
    assert info.value.code == 400 and "gluster network disk" in str(info.value)


def _qcow2(path, backing=None, backing_format="qcow2"):
    argv = ["qemu-img", "create", "-q", "-f", "qcow2"]
    if backing:
        argv += ["-F", backing_format, "-b", backing]
    subprocess.run(argv + [str(path), "1M"], check=True, capture_output=True)


@pytest.mark.parametrize("case,reason", [
    ("missing", "does not exist"), ("not backed", "backed by the volume's current"),
    ("backed by another", "backed by the volume's current"),
    ("current", "is the file disk vdb writes now"),
    ("symlink", "not a regular file"), ("path", "not a plain file name")])
def test_a_new_file_cinder_did_not_make_right_is_refused_with_400(
        assisted, tmp_path, case, reason):
    current = tmp_path / f"volume-{VOLUME}"
    _qcow2(current)
    new = tmp_path / "volume-new"
    name = new.name
    if case == "not backed":
        _qcow2(new)
    elif case == "backed by another":
        _qcow2(tmp_path / "other")
        _qcow2(new, "other")
    elif case == "current":
        name = current.name
    elif case == "symlink":
        _qcow2(tmp_path / "elsewhere", current.name)
        new.symlink_to(tmp_path / "elsewhere")
    elif case == "path":
        name = "../volume-new"
    dom = StubDomain(domain_xml(tmp_path))
    with pytest.raises(exception.Invalid) as info:
        assisted.validate_create(dom, assisted.find_disk(dom, VOLUME),
                                 {"new_file": name})
    assert reason in str(info.value)


def test_a_new_file_backed_relatively_by_the_current_file_is_accepted(
        assisted, tmp_path):
    _qcow2(tmp_path / f"volume-{VOLUME}")
    _qcow2(tmp_path / "volume-new", f"volume-{VOLUME}")
    dom = StubDomain(domain_xml(tmp_path))
    assisted.validate_create(dom, assisted.find_disk(dom, VOLUME),
                             {"new_file": "volume-new"})


@pytest.mark.parametrize("info,refused", [
    ({"file_to_merge": "volume-a.b", "merge_target_file": "volume-a"}, True),
    ({"file_to_merge": f"volume-{VOLUME}", "merge_target_file": "volume-a"},
     False),  # the active file: qemu-img commit
    ({"file_to_merge": "volume-a", "merge_target_file": None}, False),
    ({"file_to_merge": None, "merge_target_file": None}, False)])
def test_offline_only_a_commit_of_an_intermediate_file_is_refused(
        assisted, tmp_path, info, refused):
    dom = StubDomain(domain_xml(tmp_path), active=False)
    disk = assisted.find_disk(dom, VOLUME)
    if refused:
        with pytest.raises(exception.Invalid) as caught:
            assisted.validate_delete(dom, disk, info)
        assert "shut off" in str(caught.value)
    else:
        assisted.validate_delete(dom, disk, info)


def test_an_offline_commit_points_only_the_volume_s_disk_at_the_merged_file(
        tmp_path):
    xml = volume._set_disk_source(domain_xml(tmp_path), "vdb", "/v/volume-a", "raw")
    disks = {d.target: d for d in lxml_xml.disks(xml)}
    assert (disks["vdb"].source, disks["vdb"].driver_type) == ("/v/volume-a", "raw")
    assert disks["vda"].source == f"{tmp_path}/root.qcow2"
    # The old chain goes with it: libvirt reads the new one from the file.
    [node] = [n for n in lxml_xml.parse(xml).findall("./devices/disk")
              if n.find("target").get("dev") == "vdb"]
    assert node.find("backingStore") is None

"""The libvirt side of assisted volume snapshots, without libvirtd: the
volumes are listed and a volume's disk found by its serial, what cannot be
done is refused with 400 before anything is touched, Cinder's file names are
checked to be plain names, and an offline commit points the definition at the
merged file. (tests/functional/test_assisted_volume_snapshots.py runs the
real thing.)"""

import subprocess
import types

import pytest

from nativesnap import exception
from nativesnap.virt import driver
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


class StubHost:
    """host.Host's lookups, answered with one domain (or none)."""

    def __init__(self, dom):
        self.dom = dom

    def find(self, ref):
        return self.dom if ref == SERVER.hypervisor_ref else None

    def lookup(self, ref):
        if self.find(ref) is None:
            raise exception.HypervisorObjectNotFound(driver="libvirt",
                                                     what="domain", ref=ref)
        return self.dom


SERVER = types.SimpleNamespace(id="server-1",
                               hypervisor_ref="6e0f4a9c-1a5b-4f65-8d52-2c8e8e7c1f00")


def assisted_for(dom):
    return volume.AssistedVolumes(StubHost(dom))


def test_assisted_volumes_are_the_libvirt_volume_snapshot_interface():
    assert isinstance(assisted_for(None), driver.VolumeSnapshotInterface)
    assert assisted_for(None).interface_type == driver.VOLUME_SNAPSHOT


def test_the_volume_s_disk_is_the_disk_whose_serial_is_its_id(tmp_path):
    assisted = assisted_for(None)
    disk = assisted.find_disk(StubDomain(domain_xml(tmp_path)), VOLUME)
    assert (disk.volume_id, disk.target, disk.type, disk.driver_type) == (
        VOLUME, "vdb", "file", "qcow2")
    assert disk.source == f"{tmp_path}/volume-{VOLUME}"
    assert assisted.find_disk(StubDomain(domain_xml(tmp_path)),
                              "11111111-2222-3333-4444-555555555555") is None


def test_attached_volumes_are_the_disks_with_a_volume_uuid_serial(tmp_path):
    # vda's serial is no UUID; hdc is a CD-ROM.
    listed = assisted_for(StubDomain(domain_xml(tmp_path))).attached_volumes(
        None, SERVER)
    assert listed == [driver.VolumeAttachment(volume_id=VOLUME, device="vdb")]


def test_a_domain_that_is_gone_has_no_volumes_attached():
    assert assisted_for(None).attached_volumes(None, SERVER) == []


@pytest.mark.parametrize("dom", [None, StubDomain("<domain><devices/></domain>")])
def test_a_volume_no_longer_on_the_server_is_refused_with_400_as_not_attached(
        dom):
    assisted = assisted_for(dom)
    for validate, info in ((assisted.validate_create, {"new_file": "volume-x"}),
                           (assisted.validate_delete, {"file_to_merge": None,
                                                       "merge_target_file": None})):
        with pytest.raises(exception.VolumeNotAttached) as caught:
            validate(None, SERVER, VOLUME, info)
        assert caught.value.code == 400 and VOLUME in str(caught.value)


def test_an_interrupted_operation_on_a_domain_that_is_gone_was_not_done():
    operation = types.SimpleNamespace(volume_id=VOLUME, action="create",
                                      request={"new_file": "volume-x"})
    outcome = assisted_for(None).reconcile(None, SERVER, operation)
    assert outcome.completed is False
    assert outcome.reason == "the domain no longer exists"


def test_a_network_volume_disk_is_refused_with_400(tmp_path):
    assisted = assisted_for(StubDomain(domain_xml(tmp_path, "network")))
    with pytest.raises(exception.Invalid) as info:
        assisted.validate_create(None, SERVER, VOLUME, {"new_file": "volume-x.y"})
    assert info.value.code == 400 and "gluster network disk" in str(info.value)


@pytest.mark.parametrize("name", ["volume-x", "volume-1.2", "v" * 255, "a b"])
def test_plain_file_names_pass(name):
    assert volume.plain_file_name("new_file", name) == name


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "/a", "../a", "a..b",
                                  "a:b", "a\x00b", "a\nb", "a\x85b", "v" * 256,
                                  None, 5])
def test_names_that_are_not_plain_file_names_are_refused_with_400(name):
    with pytest.raises(exception.Invalid) as info:
        volume.plain_file_name("new_file", name)
    assert info.value.code == 400 and "new_file" in str(info.value)
    assert "is not a plain file name (1-255 characters, no '/', '..', ':' or " \
           "control characters)" in str(info.value)


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
        tmp_path, case, reason):
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
    assisted = assisted_for(StubDomain(domain_xml(tmp_path)))
    with pytest.raises(exception.Invalid) as info:
        assisted.validate_create(None, SERVER, VOLUME, {"new_file": name})
    assert reason in str(info.value)


def test_a_new_file_backed_relatively_by_the_current_file_is_accepted(tmp_path):
    _qcow2(tmp_path / f"volume-{VOLUME}")
    _qcow2(tmp_path / "volume-new", f"volume-{VOLUME}")
    assisted = assisted_for(StubDomain(domain_xml(tmp_path)))
    assisted.validate_create(None, SERVER, VOLUME, {"new_file": "volume-new"})


@pytest.mark.parametrize("info,refused", [
    ({"file_to_merge": "volume-a.b", "merge_target_file": "volume-a"}, True),
    ({"file_to_merge": f"volume-{VOLUME}", "merge_target_file": "volume-a"},
     False),  # the active file: qemu-img commit
    ({"file_to_merge": "volume-a", "merge_target_file": None}, False),
    ({"file_to_merge": None, "merge_target_file": None}, False)])
def test_offline_only_a_commit_of_an_intermediate_file_is_refused(
        tmp_path, info, refused):
    assisted = assisted_for(StubDomain(domain_xml(tmp_path), active=False))
    if refused:
        with pytest.raises(exception.Invalid) as caught:
            assisted.validate_delete(None, SERVER, VOLUME, info)
        assert "shut off" in str(caught.value)
    else:
        assisted.validate_delete(None, SERVER, VOLUME, info)


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

"""The root device is chosen as docs/baremetal-agent.md says, against a fake
/sys (and udev database) tree: a hint must match every field it gives;
without one, the first disk by name of at least 4 GiB; read-only, removable,
empty, RAM and (unless allowed) loop devices are never chosen."""

import pytest

from nativesnap.agent import rootdev

GiB = 1 << 30


def _disk(sys_root, name, size, ro=0, removable=0, serial=None, wwid=None,
          dev=None):
    base = sys_root / "block" / name
    (base / "device").mkdir(parents=True)
    (base / "size").write_text(f"{size // 512}\n")
    (base / "ro").write_text(f"{ro}\n")
    (base / "removable").write_text(f"{removable}\n")
    if serial:
        (base / "device" / "serial").write_text(serial + "\n")
    if wwid:
        (base / "device" / "wwid").write_text(wwid + "\n")
    if dev:
        (base / "dev").write_text(dev + "\n")


@pytest.fixture
def sys_root(tmp_path):
    root = tmp_path / "sys"
    _disk(root, "loop0", 8 * GiB)
    _disk(root, "ram0", 16 * GiB)
    _disk(root, "zram0", 16 * GiB)
    _disk(root, "sda", 2 * GiB, serial="SMALL1")
    _disk(root, "sdb", 0)
    _disk(root, "sdc", 100 * GiB, ro=1)
    _disk(root, "sdd", 64 * GiB, removable=1)
    _disk(root, "sde", 500 * GiB, serial="S3Z1NB0K", wwid="naa.5002538e40a1b2c3")
    _disk(root, "vda", 20 * GiB, dev="252:0")
    return root


def _find(sys_root, hint=None, allow_loop=False, udev_root="/nonexistent"):
    return rootdev.find_root_device(hint, allow_loop, str(sys_root),
                                    udev_root=udev_root, dev_root="/dev")


def test_without_a_hint_the_first_usable_disk_of_4_gib_is_chosen(sys_root):
    device = _find(sys_root)
    assert device.path == "/dev/sde"
    assert device.as_dict() == {"path": "/dev/sde", "size_bytes": 500 * GiB,
                                "serial": "S3Z1NB0K",
                                "wwn": "naa.5002538e40a1b2c3", "name": "sde"}


def test_loop_devices_are_chosen_only_when_allowed(sys_root):
    assert _find(sys_root).name == "sde"
    assert _find(sys_root, allow_loop=True).name == "loop0"


@pytest.mark.parametrize("hint,name", [
    ({"name": "/dev/vda"}, "vda"),
    ({"name": "vda"}, "vda"),
    ({"serial": "s3z1nb0k"}, "sde"),
    ({"wwn": "5002538E40A1B2C3"}, "sde"),
    ({"size": 20}, "vda"),
    ({"size": 2}, "sda"),            # a hint may pick a small disk
    ({"size": 500, "serial": "S3Z1NB0K"}, "sde"),
])
def test_a_hint_picks_the_device_matching_all_its_fields(sys_root, hint, name):
    assert _find(sys_root, hint).name == name


@pytest.mark.parametrize("hint", [
    {"name": "sdc"},                # read-only
    {"name": "sdd"},                # removable
    {"name": "sdb"},                # empty
    {"name": "ram0"},
    {"name": "loop0"},              # not allowed
    {"size": 500, "serial": "OTHER"},
])
def test_a_hint_never_picks_an_unusable_or_mismatching_device(sys_root, hint):
    with pytest.raises(rootdev.RootDeviceError, match="no usable block device"):
        _find(sys_root, hint)


def test_the_error_says_what_was_skipped_and_why(tmp_path):
    root = tmp_path / "sys"
    _disk(root, "loop0", 8 * GiB)
    _disk(root, "sda", 1 * GiB)
    with pytest.raises(rootdev.RootDeviceError) as error:
        _find(root)
    message = str(error.value)
    assert "loop0: a loop device" in message
    assert "sda: smaller than 4 GiB" in message


def test_serial_and_wwn_come_from_udev_when_sysfs_has_none(sys_root, tmp_path):
    udev = tmp_path / "udev" / "data"
    udev.mkdir(parents=True)
    (udev / "b252:0").write_text("S:disk/by-id/virtio-abc\nE:ID_SERIAL=abc-long\n"
                                 "E:ID_SERIAL_SHORT=abc\nE:ID_WWN=0x5000c500a1\n")
    device = _find(sys_root, {"name": "vda"}, udev_root=str(tmp_path / "udev"))
    assert (device.serial, device.wwn) == ("abc", "0x5000c500a1")


@pytest.mark.parametrize("hint", [{}, [], {"label": "x"}, {"size": "10"},
                                  {"size": 0}, {"size": True}, {"name": ""}])
def test_invalid_hints_are_refused(hint):
    with pytest.raises(ValueError):
        rootdev.validate_hint(hint)

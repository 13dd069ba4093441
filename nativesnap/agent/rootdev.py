"""Which block device is the node's root disk.

Why here and why this way: the agent runs in a ramdisk on a node it knows
nothing about, and writing an image to the wrong disk destroys data. So the
choice is deliberately narrow and explainable, as Ironic's is: an operator's
root-device hint (``serial``, ``wwn``, ``size`` in GiB, ``name``) must match
every field it gives; without a hint, the first disk by name of at least
4 GiB. Devices that cannot be a root disk are never candidates: read-only,
removable, empty (size 0), RAM disks (``ram*``, ``zram*``) and loop devices
(those only with ``allow_loop``, which the tests use).

Everything is read from sysfs (``/sys/block/X/size`` in 512-byte sectors,
``ro``, ``removable``, ``device/serial``, ``device/wwid`` or ``wwid``) and, for
serial/wwn, from udev's database when sysfs has none. Both roots are
parameters so unit tests run against a fake tree.
"""

import dataclasses
import os

MIN_SIZE_BYTES = 4 << 30
HINT_KEYS = frozenset({"serial", "wwn", "size", "name"})
_NEVER = ("ram", "zram")


class RootDeviceError(Exception):
    """No device fits (the message says why)."""


@dataclasses.dataclass
class BlockDevice:
    name: str            # e.g. "sda"
    path: str            # e.g. "/dev/sda"
    size_bytes: int
    serial: str | None
    wwn: str | None
    read_only: bool
    removable: bool

    def as_dict(self):
        return {"path": self.path, "size_bytes": self.size_bytes,
                "serial": self.serial, "wwn": self.wwn, "name": self.name}


def _read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().strip() or None
    except OSError:
        return None


def _udev_properties(udev_root, sys_block, name):
    """udev's database entry (``E:KEY=value`` lines) for block device
    ``name``, found by its major:minor."""
    dev = _read(os.path.join(sys_block, name, "dev"))
    if not dev:
        return {}
    props = {}
    try:
        with open(os.path.join(udev_root, "data", f"b{dev}"),
                  encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("E:") and "=" in line:
                    key, _, value = line[2:].strip().partition("=")
                    props[key] = value
    except OSError:
        pass
    return props


def list_devices(sysfs_root="/sys", udev_root="/run/udev", dev_root="/dev"):
    """Every block device sysfs lists, sorted by name."""
    sys_block = os.path.join(sysfs_root, "block")
    try:
        names = sorted(os.listdir(sys_block))
    except OSError as exc:
        raise RootDeviceError(f"cannot list {sys_block}: {exc}") from exc
    devices = []
    for name in names:
        base = os.path.join(sys_block, name)
        sectors = _read(os.path.join(base, "size"))
        udev = _udev_properties(udev_root, sys_block, name)
        serial = (_read(os.path.join(base, "device", "serial"))
                  or udev.get("ID_SERIAL_SHORT") or udev.get("ID_SERIAL"))
        wwn = (_read(os.path.join(base, "device", "wwid"))
               or _read(os.path.join(base, "wwid")) or udev.get("ID_WWN"))
        devices.append(BlockDevice(
            name=name, path=os.path.join(dev_root, name),
            size_bytes=int(sectors) * 512 if (sectors or "").isdigit() else 0,
            serial=serial, wwn=wwn,
            read_only=_read(os.path.join(base, "ro")) == "1",
            removable=_read(os.path.join(base, "removable")) == "1"))
    return devices


def _unusable(device, allow_loop):
    """Why ``device`` can never be the root disk, or None."""
    if device.name.startswith(_NEVER):
        return "a RAM disk"
    if device.name.startswith("loop") and not allow_loop:
        return "a loop device (see --allow-loop-devices)"
    if device.size_bytes == 0:
        return "empty"
    if device.read_only:
        return "read-only"
    if device.removable:
        return "removable"
    return None


def _matches(device, hint):
    for key, wanted in hint.items():
        if key == "name":
            name = wanted.removeprefix("/dev/")
            if device.name != name:
                return False
        elif key == "size":
            if device.size_bytes // (1 << 30) != wanted:
                return False
        elif key == "serial":
            if (device.serial or "").lower() != str(wanted).lower():
                return False
        elif key == "wwn":
            mine = (device.wwn or "").lower()
            want = str(wanted).lower()
            if mine != want and mine.removeprefix("naa.") != want.removeprefix("naa."):
                return False
    return True


def validate_hint(hint):
    """Raise ValueError unless ``hint`` is a usable root-device hint."""
    if not isinstance(hint, dict) or not hint:
        raise ValueError("the root device hint must be a non-empty JSON object")
    unknown = set(hint) - HINT_KEYS
    if unknown:
        raise ValueError(f"unknown root device hint keys: {sorted(unknown)}; "
                         f"allowed: {sorted(HINT_KEYS)}")
    if "size" in hint and (not isinstance(hint["size"], int)
                           or isinstance(hint["size"], bool) or hint["size"] <= 0):
        raise ValueError("root device hint 'size' must be a positive integer (GiB)")
    for key in ("serial", "wwn", "name"):
        if key in hint and (not isinstance(hint[key], str) or not hint[key]):
            raise ValueError(f"root device hint {key!r} must be a non-empty string")


def choose(devices, hint=None, allow_loop=False):
    """The root device among ``devices``: the first usable one matching
    every field of ``hint``, else the first usable one of >= 4 GiB."""
    skipped = []
    for device in devices:
        why = _unusable(device, allow_loop)
        if why:
            skipped.append(f"{device.name}: {why}")
            continue
        if hint:
            if _matches(device, hint):
                return device
            continue
        if device.size_bytes >= MIN_SIZE_BYTES:
            return device
        skipped.append(f"{device.name}: smaller than 4 GiB")
    wanted = f"matching the hint {hint}" if hint else "of at least 4 GiB"
    detail = f" (skipped {'; '.join(skipped)})" if skipped else ""
    raise RootDeviceError(f"no usable block device {wanted}{detail}")


def find_root_device(hint=None, allow_loop=False, sysfs_root="/sys",
                     udev_root="/run/udev", dev_root="/dev"):
    """:func:`choose` over the devices this machine has."""
    return choose(list_devices(sysfs_root, udev_root, dev_root), hint,
                  allow_loop)

"""What the RBD tests do inside a test guest: find the RBD disk's device,
write random data to it and read a checksum back (on the raw device, flushed),
and define a test guest with an RBD disk beside (or instead of) its files.
Every wait is bounded."""

import time

from oslo_config import cfg

from nativesnap.conf import rbd as rbd_conf

DEVICE_WAIT = 30
# tests/guest.py's domain XML: its devices end with the USB controller.
_ANCHOR = "    <controller type='usb'"


def device(guest, serial):
    """The guest's block device (vdX) whose serial is ``serial``, waited for:
    a hot-plugged disk appears once the guest's PCI hotplug ran."""
    script = ('for d in /sys/block/vd*; do [ "$(cat "$d/serial" 2>/dev/null)" '
              '= "$1" ] && echo "${d##*/}"; done; true')
    deadline = time.monotonic() + DEVICE_WAIT
    while True:
        found = guest.run(["/bin/sh", "-c", script, "sh", serial]).split()
        if found:
            return found[0].decode()
        assert time.monotonic() < deadline, f"no disk with serial {serial} in the guest"
        time.sleep(0.2)


def read_sha256(guest, dev, offset_mib=0, length_mib=1):
    out = guest.run(["/bin/sh", "-c",
                     'dd if="/dev/$1" bs=1048576 skip="$2" count="$3" '
                     '2>/dev/null | sha256sum',
                     "sh", dev, str(offset_mib), str(length_mib)])
    return out.split()[0].decode()


def write_random(guest, dev, offset_mib=0, length_mib=1):
    """Random bytes written by the guest to ``dev`` at ``offset_mib`` and
    flushed (fsync of the block device); their sha256."""
    script = ('head -c $(($3 * 1048576)) /dev/urandom > /run/ram/blob && '
              'dd if=/run/ram/blob of="/dev/$1" bs=1048576 seek="$2" '
              'conv=fsync 2>/dev/null && sync && sha256sum /run/ram/blob && '
              'rm /run/ram/blob')
    out = guest.run(["/bin/sh", "-c", script, "sh", dev, str(offset_mib),
                     str(length_mib)])
    return out.split()[0].decode()


def define_with_rbd_disk(conn, guest, disk_xml, replace_first=False):
    """Define ``guest`` (tests/guest.py, not yet defined) with ``disk_xml``
    added after its file disks, or in place of its first one."""
    xml = guest.xml()
    if replace_first:
        start = xml.index("<disk")
        end = xml.index("</disk>", start) + len("</disk>")
        xml = xml[:start] + disk_xml + xml[end:]
    else:
        xml = xml.replace(_ANCHOR, disk_xml + "\n" + _ANCHOR, 1)
    guest.domain = conn.defineXML(xml)
    return guest.domain


def rbd_options(ceph_conf, user="nativesnap", timeout=5):
    """``[rbd]`` options of their own (not the global CONF) for a
    ceph.Cluster of the test's one-node Ceph."""
    conf = cfg.ConfigOpts()
    rbd_conf.register_opts(conf)
    conf([], project="nativesnap", default_config_files=[])
    conf.set_override("ceph_conf", ceph_conf, group="rbd")
    conf.set_override("rbd_user", user, group="rbd")
    conf.set_override("connect_timeout", timeout, group="rbd")
    return conf

"""Cinder volumes attached to a domain, as server snapshots see them.

A disk is a Cinder volume when its ``<serial>`` is a volume UUID: that is how
Nova attaches volumes (and what Cinder's assisted snapshots look a disk up
by). Such a disk's files belong to Cinder's volume driver, not to nativesnap:
a server snapshot leaves them alone unless it is asked to include volumes,
and even then every file it adds to a volume's chain is named and placed the
way Cinder's remotefs drivers name theirs (``volume-<volume id>.<snapshot
id>`` next to the volume's other files, backing file named relatively), and
Cinder's own chain record (``volume-<volume id>.info``, when the directory
has one) is kept up to date, so Cinder can later delete or extend that chain
as if it had made the snapshot itself.
"""

import json
import os
import tempfile

from oslo_utils import uuidutils

from nativesnap import exception
from nativesnap.virt.libvirt import qemu_img


def volume_id_of(disk):
    """The volume id of a disk that is a Cinder volume, else None."""
    serial = (disk.serial or "").strip()
    if uuidutils.is_uuid_like(serial) and len(serial) == 36:
        return serial.lower()
    return None


def split(disks):
    """(server disks, {target: (disk, volume id)}) of a domain's disks."""
    own, volumes = [], {}
    for disk in disks:
        volume_id = volume_id_of(disk)
        if volume_id:
            volumes[disk.target] = (disk, volume_id)
        else:
            own.append(disk)
    return own, volumes


def check_snapshottable(target, disk):
    if disk.type != "file" or disk.driver_type != "qcow2":
        raise exception.Invalid(
            reason=f"volume disk {target} is not a qcow2 file (it is "
                   f"{disk.protocol or disk.type}); include_volumes covers "
                   "file-based volumes only (Cinder's NFS-style drivers)")


def overlay_name(volume_id, cinder_snapshot_id):
    """Cinder remotefs's name of the file a snapshot makes active."""
    return f"volume-{volume_id}.{cinder_snapshot_id}"


def create_overlay(disk, volume_id, cinder_snapshot_id):
    """The new active file of a volume disk, made the way Cinder makes it:
    in the volume's directory, backing file by relative name. Returns its
    path."""
    directory = os.path.dirname(disk.source)
    path = os.path.join(directory, overlay_name(volume_id, cinder_snapshot_id))
    if os.path.lexists(path):
        raise exception.Invalid(reason=f"{path} already exists; refusing to "
                                       "overwrite a file of volume "
                                       f"{volume_id}")
    qemu_img.create_overlay(path, os.path.basename(disk.source),
                            backing_format=disk.driver_type)
    _same_mode(path, disk.source)
    return path


def _same_mode(path, like):
    # Cinder's services (and QEMU's user) share these files: keep the mode
    # the volume's files already have, not nativesnap's private 0600.
    os.chmod(path, os.stat(like).st_mode & 0o777)


def info_path(directory, volume_id):
    return os.path.join(directory, f"volume-{volume_id}.info")


def record_in_info_file(directory, volume_id, cinder_snapshot_id, new_file):
    """Add the snapshot to Cinder's chain record, if the volume has one, and
    make ``new_file`` the active file; written atomically (rename), keeping
    the file's mode, as Cinder's driver would."""
    path = info_path(directory, volume_id)
    try:
        with open(path) as f:
            info = json.load(f)
        mode = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        return False
    info[cinder_snapshot_id] = os.path.basename(new_file)
    info["active"] = os.path.basename(new_file)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".nativesnap-")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(info, f)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


def record_volumes(included, volume_overlays, cinder_ids):
    """What a snapshot holds of each volume ({target: record}), and Cinder's
    chain record brought up to date, as Cinder itself does after a snapshot.

    ``included``: {target: (disk, volume id)} of the volumes the snapshot
    took; ``volume_overlays``: {target: the new active file};
    ``cinder_ids``: {volume id: Cinder snapshot id}."""
    record = {}
    for target, (disk, volume_id) in sorted(included.items()):
        overlay = volume_overlays[target]
        record[target] = {"volume_id": volume_id,
                          "snapshot_id": cinder_ids[volume_id],
                          "frozen": disk.source, "overlay": overlay}
        record_in_info_file(os.path.dirname(overlay), volume_id,
                            cinder_ids[volume_id], overlay)
    return record


def check_revertible(target, record, current_source):
    """A volume reverts only to its latest snapshot, as Cinder allows: the
    snapshot's overlay must still be the file the guest writes."""
    if current_source != record["overlay"]:
        raise exception.VolumeConflict(
            verb="revert",
            reason=f"volume {record['volume_id']} (disk {target}) has changed "
                   "chain since this snapshot (a later snapshot, or Cinder "
                   "moved it); Cinder reverts a volume only to its latest "
                   "snapshot")
    if not os.path.exists(record["frozen"]):
        raise exception.VolumeConflict(
            verb="revert",
            reason=f"the snapshot's file of volume {record['volume_id']} is "
                   "gone (was the volume snapshot deleted in Cinder?)")


def reset_overlay(record):
    """Revert a volume disk in place: its active file (the snapshot's overlay,
    named in Cinder's record) is made empty again over the frozen file, so
    Cinder's view of the chain does not change at all. The domain must be
    stopped."""
    path = record["overlay"]
    tmp = path + ".nativesnap-revert"
    qemu_img.create_overlay(tmp, os.path.basename(record["frozen"]))
    _same_mode(tmp, path)
    os.replace(tmp, path)

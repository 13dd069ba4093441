"""Disk backends of the libvirt driver: what a verb does to one disk depends
on where the disk lives, so each kind of disk has a backend and the verbs ask
each disk's backend (the shape of Nova's libvirt ``imagebackend``, where
``Qcow2`` stands beside ``Rbd``).

A snapshot's record keeps, per disk target, the backend's own *reference* to
the disk's frozen state (``record["disks"][target]``): for a qcow2 file, the
path of the frozen file (the form records have always had). The verbs hand
that reference back to the backend that made it (``backend_of``).

Creating a snapshot has two steps per disk, around the guest's freeze
(docs/libvirt.md, "Create"):

- ``prepare`` runs before the freeze and returns the overlay that libvirt's
  ``snapshotCreateXML`` must switch the disk to, or None when the backend
  takes the disk's snapshot itself;
- ``take`` runs inside the freeze window, after libvirt's switch, for the
  disks whose ``prepare`` returned None.

qcow2 files and Ceph RBD images have a backend; any other disk is refused by
``backend_for`` with the disk named. Deleting a qcow2 snapshot is the layer
bookkeeping of ``chain.py``.
"""

import abc
import hashlib
import os
import re
import uuid

from nativesnap.common import failpoints
from nativesnap.conf import CONF
from nativesnap import exception
from nativesnap.virt.libvirt import bookkeeping
from nativesnap.virt.libvirt import ceph
from nativesnap.virt.libvirt import chain
from nativesnap.virt.libvirt import qemu_img
from nativesnap.virt.libvirt import xml

#: the format name a snapshot's view gives each disk
QCOW2 = "qcow2"
SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,255}")


class DiskBackend(metaclass=abc.ABCMeta):
    """What the verbs do to one kind of disk."""

    #: the disk format shown in a snapshot's view
    format = None

    @classmethod
    @abc.abstractmethod
    def accepts(cls, disk):
        """Whether ``disk`` (an ``xml.Disk`` of the domain) is of this kind."""

    @classmethod
    @abc.abstractmethod
    def owns(cls, reference):
        """Whether a snapshot record's ``reference`` was made by this kind."""

    # --- create ---------------------------------------------------------------

    @abc.abstractmethod
    def prepare(self, disk, directory, snapshot_id):
        """Before the freeze: the overlay libvirt switches the disk to, or
        None when ``take`` snapshots the disk."""

    def take(self, disk, snapshot_id):
        """Inside the freeze window: snapshot a disk ``prepare`` left to it."""

    def undo_take(self, disk, snapshot_id):
        """A create that failed after (or while) ``take`` ran: remove the
        snapshot it made, if any."""

    def check(self, disk):
        """At adoption: Invalid naming the disk when nativesnap could not
        snapshot it (an image its user may not write)."""

    def delete(self, reference):
        """Remove a snapshot's frozen state that no other snapshot needs
        (qcow2 layers are merged by chain.py instead)."""

    @abc.abstractmethod
    def undo(self, prepared, in_use):
        """A create that failed: remove what ``prepare`` made (``in_use``:
        the sources the domain reads now, never removed)."""

    @abc.abstractmethod
    def reference(self, disk, snapshot_id):
        """After the create: the record's reference to the frozen state."""

    @abc.abstractmethod
    def allocated_bytes(self, reference):
        """What the snapshot's frozen state of this disk occupies."""

    # --- revert, spawn, export --------------------------------------------------

    @abc.abstractmethod
    def revert_source(self, reference, directory, name, target):
        """A new writable source of disk ``target`` holding ``reference``'s
        state, for a revert (``name`` tells recovery which task made it), or
        None when the disk keeps its source and ``revert_stopped`` restores
        it."""

    def revert_stopped(self, reference):
        """With the domain stopped: bring the disk back to ``reference``."""

    @abc.abstractmethod
    def spawn_source(self, reference, directory, linked, progress):
        """A new server's disk from ``reference``: sharing its data
        (``linked``) or a copy of its own."""

    @abc.abstractmethod
    def export(self, reference, dest_path, progress):
        """Write ``reference``'s state into ``dest_path`` as one qcow2 file;
        returns its SHA-256."""


class Qcow2File(DiskBackend):
    """A qcow2 file: a snapshot freezes the file and a new overlay (named by
    the snapshot's UUID) takes the writes; reverts and linked spawns rest a
    new overlay on the frozen file; exports and full spawns are
    ``qemu-img convert``."""

    format = QCOW2

    @classmethod
    def accepts(cls, disk):
        return disk.type == "file" and disk.driver_type == QCOW2

    @classmethod
    def owns(cls, reference):
        return isinstance(reference, str)

    def prepare(self, disk, directory, snapshot_id):
        overlay = chain.overlay_path(directory, snapshot_id, disk.target)
        qemu_img.create_overlay(overlay, disk.source,
                                backing_format=disk.driver_type)
        return overlay

    def undo(self, prepared, in_use):
        if prepared and prepared not in in_use:
            bookkeeping.unlink(prepared)

    def reference(self, disk, snapshot_id):
        return disk.source  # the file libvirt froze

    def allocated_bytes(self, reference):
        return chain.allocated_bytes(reference)

    def revert_source(self, reference, directory, name, target):
        path = chain.overlay_path(directory, name, target)
        qemu_img.create_overlay(path, reference)
        return path

    def spawn_source(self, reference, directory, linked, progress):
        path = os.path.join(directory, f"{uuid.uuid4()}.qcow2")
        if linked:
            qemu_img.create_overlay(path, reference)
        else:
            def step(percent):
                failpoints.hit("libvirt.spawn.converting")
                progress(percent)
            qemu_img.convert(reference, path, progress=step,
                             timeout=CONF.libvirt.copy_timeout)
        return path

    def export(self, reference, dest_path, progress):
        return export_copy(reference, dest_path, progress)


def export_copy(source, dest_path, progress, force_share=True):
    """``qemu-img convert`` of ``source`` into one qcow2 file; its SHA-256."""
    def step(percent):
        failpoints.hit("libvirt.export.converting")
        progress(percent)
    qemu_img.convert(source, dest_path, progress=step,
                     timeout=CONF.libvirt.copy_timeout, force_share=force_share)
    failpoints.hit("libvirt.export.converted")
    digest = hashlib.sha256()
    with open(dest_path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class RbdImage(DiskBackend):
    """A Ceph RBD image (``<disk type='network'><source protocol='rbd'
    name='pool/image'>``): a snapshot is an RBD snapshot named by the
    snapshot's id, taken inside the freeze window (O(1) whatever the image's
    size); a revert rolls the image back with the domain stopped (later
    snapshots are kept); a spawn clones the snapshot into the same pool
    (flattened for a full spawn); an export copies it with qemu-img. See
    docs/rbd.md for why each."""

    format = "raw"
    #: spawned servers' images: nativesnap owns (and removes) only these
    PREFIX = "nativesnap-"

    def __init__(self):
        self._cluster = None

    @property
    def cluster(self):
        if self._cluster is None:
            self._cluster = ceph.Cluster()
        return self._cluster

    def close(self):
        if self._cluster is not None:
            self._cluster.close()

    @classmethod
    def accepts(cls, disk):
        return disk.type == "network" and disk.protocol == "rbd"

    @classmethod
    def owns(cls, reference):
        return isinstance(reference, dict) and reference.get("backend") == "rbd"

    @staticmethod
    def split(name):
        """(pool, image) of a disk's ``pool/image`` source. Names are kept to
        the characters Ceph's tools create (they end up in qemu-img's
        ``rbd:`` file name, where ':' and '@' are separators)."""
        pool, _, image = (name or "").partition("/")
        if not (SAFE_NAME.fullmatch(pool) and SAFE_NAME.fullmatch(image)):
            raise exception.Invalid(
                reason=f"RBD disk source {name!r} is not '<pool>/<image>' made "
                       "of letters, digits, '.', '_' and '-'")
        return pool, image

    def check(self, disk):
        self.cluster.check_writable(*self.split(disk.source))

    def prepare(self, disk, directory, snapshot_id):
        return None

    def take(self, disk, snapshot_id):
        self.cluster.create_snapshot(*self.split(disk.source), snapshot_id)

    def undo_take(self, disk, snapshot_id):
        self.cluster.remove_snapshot(*self.split(disk.source), snapshot_id)

    def has_snapshot(self, disk, snapshot_id):
        return snapshot_id in self.cluster.snapshots(*self.split(disk.source))

    def undo(self, prepared, in_use):
        pass

    def reference(self, disk, snapshot_id):
        pool, image = self.split(disk.source)
        return {"backend": "rbd", "pool": pool, "image": image,
                "snapshot": snapshot_id}

    def allocated_bytes(self, reference):
        return 0  # copy-on-write: the snapshot holds no data of its own yet

    def revert_source(self, reference, directory, name, target):
        return None

    def revert_stopped(self, reference):
        self.cluster.rollback(reference["pool"], reference["image"],
                              reference["snapshot"])

    def spawn_source(self, reference, directory, linked, progress):
        pool = reference["pool"]
        name = f"{self.PREFIX}{uuid.uuid4()}"
        self.cluster.clone(pool, reference["image"], reference["snapshot"],
                           pool, name)
        if not linked:
            try:
                self.cluster.flatten(pool, name, progress)
            except Exception:
                self.cluster.remove(pool, name)
                raise
        return xml.NetworkSource("rbd", f"{pool}/{name}")

    def export(self, reference, dest_path, progress):
        opts = CONF.rbd
        source = (f"rbd:{reference['pool']}/{reference['image']}@"
                  f"{reference['snapshot']}:id={opts.rbd_user}"
                  f":conf={opts.ceph_conf}")
        if opts.keyring:
            source += f":keyring={opts.keyring}"
        # Locks are for image files: the rbd protocol takes no force-share.
        return export_copy(source, dest_path, progress, force_share=False)

    def delete(self, reference):
        self.cluster.remove_snapshot(reference["pool"], reference["image"],
                                     reference["snapshot"])

    def remove_spawned(self, name):
        """A spawned server's image (``pool/image``), if nativesnap made it."""
        pool, image = self.split(name)
        if image.startswith(self.PREFIX):
            self.cluster.remove(pool, image)


QCOW2_FILE = Qcow2File()
RBD = RbdImage()  # one cluster connection for every RBD disk of the host
BACKENDS = (QCOW2_FILE, RBD)


def backend_for(disk):
    """The backend of a domain's disk; Invalid naming the disk when no
    backend takes it."""
    for backend in BACKENDS:
        if backend.accepts(disk):
            return backend
    what = (f"a {disk.protocol} network disk" if disk.protocol else
            f"a {disk.driver_type or 'unknown'}-format {disk.type} disk")
    raise exception.Invalid(
        reason=f"disk {disk.target} is {what}; nativesnap's libvirt snapshots "
               "need qcow2 files or Ceph RBD images (convert it with qemu-img "
               "convert -O qcow2, or leave it out of the domain)")


def backend_of(reference):
    """The backend that made a snapshot record's disk ``reference``."""
    for backend in BACKENDS:
        if backend.owns(reference):
            return backend
    raise exception.Invalid(reason=f"a snapshot record names a disk state "
                                   f"nativesnap cannot read: {reference!r}")

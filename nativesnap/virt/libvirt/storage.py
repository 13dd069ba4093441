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
import time
import uuid

from nativesnap.common import failpoints
from nativesnap.conf import CONF
from nativesnap import exception
from nativesnap.virt import driver
from nativesnap.virt.libvirt import bookkeeping
from nativesnap.virt.libvirt import ceph
from nativesnap.virt.libvirt import chain
from nativesnap.virt.libvirt import qemu_img
from nativesnap.virt.libvirt import xml

#: the format name a snapshot's view gives each disk
QCOW2 = "qcow2"
SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,255}")
#: RBD image metadata on a clone nativesnap has yet to flatten
FLATTEN_MARK = "nativesnap.flatten"
FLATTEN_POLL_SECONDS = 0.5


def parse_location(url):
    """(fsid, pool, image) of ``rbd://fsid/pool/image[/snap]``."""
    scheme, _, rest = url.partition("://")
    parts = rest.split("/")
    if scheme != "rbd" or len(parts) not in (3, 4) or not all(
            SAFE_NAME.fullmatch(p) for p in parts):
        raise exception.Invalid(reason=f"{url!r} is not an rbd:// location")
    return parts[0], parts[1], parts[2]


class CloneRefused(Exception):
    """An export by clone is not possible here: the reason (recorded on the
    export, which is then a copy)."""

    def __init__(self, reason, cause=None):
        super().__init__(reason)
        self.reason = reason
        #: what to log once per cause (the kind of refusal, not the image)
        self.cause = cause or reason


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

    def delete(self, reference, progress=None):
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
        (``linked``) or a copy of its own; (source, flatten) where
        ``flatten`` names a copy still to be made by ``flatten`` (None when
        the source is complete)."""

    @abc.abstractmethod
    def export(self, reference, dest_path, progress, disk_format):
        """Write ``reference``'s state into ``dest_path`` as one file of
        ``disk_format``; returns its SHA-256."""

    def export_clone(self, reference, image_id):
        """Export by clone: (location, flatten, size); CloneRefused when this disk
        cannot be exported that way."""
        raise CloneRefused("the disk is a file: a clone needs Ceph RBD")

    # --- the storage guard ----------------------------------------------------

    def free_space(self, disks, directory):
        """Free space where the next snapshot of ``disks`` (this backend's
        disks of one server, whose files go to ``directory``) is written:
        a driver.FreeSpace (the tightest place when there are several), or
        None when the backend cannot tell."""
        return None


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
        return path, None

    def export(self, reference, dest_path, progress, disk_format):
        return export_copy(reference, dest_path, progress, disk_format)

    def free_space(self, disks, directory):
        """The filesystem of ``directory``: every disk's overlay (and a
        memory snapshot's file) is written there; the frozen files stay
        where they are and are written no more."""
        return filesystem_space(directory,
                                f"libvirt overlay directory {directory}")


def filesystem_space(path, where):
    """The FreeSpace of the filesystem of ``path``, as df's Avail and Size
    (what an unprivileged writer such as QEMU may still use, of the whole),
    read at the nearest directory that exists: a server's own directory is
    made by its first snapshot."""
    probe = path
    while not os.path.isdir(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    st = os.statvfs(probe)
    total = st.f_blocks * st.f_frsize
    if total <= 0:
        return None  # a pseudo-filesystem tells nothing
    return driver.FreeSpace(free_bytes=st.f_bavail * st.f_frsize,
                            total_bytes=total, where=where)


def export_copy(source, dest_path, progress, disk_format, force_share=True):
    """``qemu-img convert`` of ``source`` into one file of ``disk_format``;
    its SHA-256."""
    def step(percent):
        failpoints.hit("libvirt.export.converting")
        progress(percent)
    qemu_img.convert(source, dest_path, progress=step,
                     timeout=CONF.libvirt.copy_timeout, force_share=force_share,
                     output_format=disk_format)
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
        """A clone of the snapshot in the same pool; a full spawn's clone is
        marked and flattened later by ``flatten`` (its handle returned)."""
        pool = reference["pool"]
        name = f"{self.PREFIX}{uuid.uuid4()}"
        self.cluster.clone(pool, reference["image"], reference["snapshot"],
                           pool, name)
        handle = None
        if not linked:
            handle = self._mark_for_flatten(pool, name)
        return xml.NetworkSource("rbd", f"{pool}/{name}"), handle

    def _mark_for_flatten(self, pool, name):
        """Mark a clone as one nativesnap flattens (a snapshot delete waits
        for such clones, docs/rbd.md); its flatten handle."""
        try:
            self.cluster.set_metadata(pool, name, FLATTEN_MARK, "pending")
        except Exception:
            self.cluster.remove(pool, name)
            raise
        return f"rbd://{self.cluster.fsid()}/{pool}/{name}"

    def export(self, reference, dest_path, progress, disk_format):
        opts = CONF.rbd
        source = (f"rbd:{reference['pool']}/{reference['image']}@"
                  f"{reference['snapshot']}:id={opts.rbd_user}"
                  f":conf={opts.ceph_conf}")
        if opts.keyring:
            source += f":keyring={opts.keyring}"
        # Locks are for image files: the rbd protocol takes no force-share.
        return export_copy(source, dest_path, progress, disk_format,
                           force_share=False)

    def export_clone(self, reference, image_id):
        """A clone of the snapshot in ``[rbd] image_pool`` named by the
        image's id, with the snapshot ``snap`` Glance's RBD store expects:
        (location ``rbd://<fsid>/<pool>/<image>/snap``, the same as flatten
        handle, size). Refused (CloneRefused) without write caps on the pool."""
        pool = CONF.rbd.image_pool
        try:
            self.cluster.clone(reference["pool"], reference["image"],
                               reference["snapshot"], pool, image_id)
        except ceph.rbd.PermissionError as e:
            raise CloneRefused(
                f"client.{CONF.rbd.rbd_user} may not write pool {pool} "
                f"([rbd] image_pool): Ceph refused the clone ({e}); give it "
                f"'profile rbd pool={pool}' for exports by clone",
                cause=f"no write caps on {pool}") from e
        try:
            self.cluster.set_metadata(pool, image_id, FLATTEN_MARK, "pending")
            self.cluster.create_snapshot(pool, image_id, "snap")
        except Exception:
            self.cluster.remove_with_snapshots(pool, image_id)
            raise
        location = f"rbd://{self.cluster.fsid()}/{pool}/{image_id}/snap"
        return location, location, self.cluster.size(pool, image_id)

    def flatten(self, handle, progress):
        """Flatten the clone ``handle`` names (``rbd://fsid/pool/image[/snap]``);
        done already is fine."""
        fsid, pool, image = parse_location(handle)
        if fsid != self.cluster.fsid():
            raise exception.Invalid(reason=f"{handle} is on another Ceph "
                                           "cluster than [rbd] ceph_conf's")
        self.cluster.flatten(pool, image, progress)
        self.cluster.remove_metadata(pool, image, FLATTEN_MARK)

    def remove_clone(self, image_id):
        """Remove the export by clone named ``image_id`` from
        ``[rbd] image_pool``; whether there was one. A host without Ceph
        (no ceph_conf) has none and is not asked."""
        if not (ceph.available() and os.path.exists(CONF.rbd.ceph_conf)):
            return False
        pool = CONF.rbd.image_pool
        if not self.cluster.exists(pool, image_id):
            return False
        self.cluster.remove_with_snapshots(pool, image_id)
        return True

    def delete(self, reference, progress=None):
        """Remove the RBD snapshot once no clone needs it. Clones nativesnap
        is still flattening (marked) are waited for, up to
        ``[rbd] flatten_wait_timeout``; any other clone refuses the delete
        (SnapshotInUse naming it)."""
        pool, image, snap = (reference["pool"], reference["image"],
                             reference["snapshot"])
        deadline = time.monotonic() + CONF.rbd.flatten_wait_timeout
        while True:
            children = self.cluster.children(pool, image, snap)
            others = [c for c in children
                      if self.cluster.get_metadata(*c, FLATTEN_MARK) is None]
            if others:
                raise exception.SnapshotInUse(
                    snapshot_id=snap, dependents=", ".join(
                        f"RBD image {p}/{i}" for p, i in others))
            if not children:
                break
            if time.monotonic() > deadline:
                raise exception.DriverError(
                    driver=ceph.DRIVER, verb="delete a snapshot",
                    reason=f"its clones {children} were still being "
                           "flattened after [rbd] flatten_wait_timeout s")
            if progress:
                progress(0)  # the task may be cancelled meanwhile
            time.sleep(FLATTEN_POLL_SECONDS)
        self.cluster.remove_snapshot(pool, image, snap)

    def free_space(self, disks, directory):
        """The tightest pool among those that hold the disks' data (the
        image's own pool, or its data pool): RBD snapshots are
        copy-on-write inside it. A pool the cluster has no figures for
        is left out (None when none has)."""
        pools = {self.cluster.data_pool(*self.split(d.source)) for d in disks}
        space = self.cluster.pool_space()
        return driver.tightest(
            driver.FreeSpace(*space[pool], where=f"Ceph pool {pool}")
            for pool in sorted(pools) if pool in space)

    def remove_spawned(self, name):
        """A spawned server's image (``pool/image``), if nativesnap made it."""
        pool, image = self.split(name)
        if image.startswith(self.PREFIX):
            self.cluster.remove_with_snapshots(pool, image)


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

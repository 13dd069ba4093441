"""The layer bookkeeping of external snapshots.

Each external snapshot S of a disk is a *frozen* qcow2 file F_S: the disk's
whole state at that instant, read through F_S's backing chain. Newer files
(later snapshots' frozen files, the domain's active layer, overlays made by
reverts) rest on older ones, so the files of one disk form a tree.

Deleting S removes F_S from that tree while every other snapshot and the
running domain keep reading exactly what they read before (invariant 3):

- F_S has no child: F_S is simply removed.
- F_S has one child C: C is merged down into F_S (``blockCommit``: with a pivot
  when C is the running domain's active layer, intermediate when C is deeper
  in its chain, ``qemu-img commit`` when nothing has C open); F_S then stands
  for whatever C stood for. Only F_S, which belonged to the deleted snapshot,
  is written to.
- F_S has several children: F_S's data is pulled up into each child
  (``blockRebase`` for the running active layer, a safe ``qemu-img rebase``
  for files nobody has open), after which F_S is removed. A child that is an
  open intermediate layer of the running domain cannot be rewritten safely:
  F_S then stays in place as a plain layer of the chain.

A snapshot a linked clone depends on never reaches this code: the manager
refuses it with 409 first (invariant 2).
"""

import os

from oslo_log import log as logging

from nativesnap.common import failpoints
from nativesnap.conf import CONF
from nativesnap.virt.libvirt import host as host_mod
from nativesnap.virt.libvirt import qemu_img
from nativesnap.virt.libvirt import xml as lxml_xml

try:
    import libvirt
except ImportError:
    libvirt = None

LOG = logging.getLogger(__name__)


def overlay_path(directory, snapshot_id, target):
    """The overlay a snapshot creates for a disk: named by the snapshot's
    UUID and the disk's target, so recovery can tell what a create made."""
    return os.path.join(directory, f"{snapshot_id}-{target}.qcow2")


def allocated_bytes(path):
    try:
        return os.stat(path).st_blocks * 512
    except FileNotFoundError:
        return 0


def backing_of(path):
    info = qemu_img.info(path)
    return info.get("full-backing-filename") or info.get("backing-filename")


def file_references(record):
    """{target: frozen file} of a snapshot record's qcow2 disks (the other
    disks' references are their backends', see storage.py)."""
    return {t: ref for t, ref in (record.get("disks") or {}).items()
            if isinstance(ref, str)}


def frozen_files(info, target=None):
    """Every file a snapshot of this server is frozen in (for one disk)."""
    files = set()
    for record in info["snapshots"].values():
        for disk, path in file_references(record).items():
            if target is None or disk == target:
                files.add(path)
    return files


def remove_unreferenced(info, paths, unlink):
    """Remove ``paths`` that no snapshot is frozen in (a discarded active
    layer only ever becomes a backing file by becoming a frozen file)."""
    keep = frozen_files(info)
    for path in paths:
        if path not in keep:
            unlink(path)


class Merger:
    """Delete one external snapshot's layers from every disk's tree."""

    def __init__(self, host, dom, info, snapshot_id, unlink, progress):
        self.host = host
        self.dom = dom
        self.info = info
        self.snapshot_id = snapshot_id
        self.unlink = unlink
        self.progress = progress
        self.running = dom is not None and dom.isActive()

    def run(self):
        files = file_references(self.info["snapshots"][self.snapshot_id])
        targets = sorted(files)
        for index, target in enumerate(targets):
            def step(percent, i=index):
                self.progress(int((i * 100 + percent) / len(targets)))
            self._delete_layer(target, files[target], step)

    def _active(self, target):
        if self.dom is None:
            return None, []
        for disk in lxml_xml.disks(self.dom.XMLDesc(0)):
            if disk.target == target:
                chain = [layer["filename"] for layer in
                         qemu_img.info(disk.source, backing_chain=True)]
                return disk.source, chain
        return None, []

    def _delete_layer(self, target, frozen, progress):
        others = frozen_files(self.info, target) - {frozen}
        active, active_chain = self._active(target)
        known = (others | set(active_chain)) - {frozen}
        children = sorted(f for f in known if os.path.exists(f)
                          and backing_of(f) == frozen)
        open_chain = set(active_chain) if self.running else set()
        LOG.info("Deleting layer %s of disk %s (children: %s)", frozen, target,
                 children)
        if frozen == active:
            # A merge interrupted after its pivot left the domain running on
            # this file: it is live data now, only the record goes.
            LOG.info("Layer %s is in the domain's chain; keeping it", frozen)
        elif not children:
            self.unlink(frozen)
        elif len(children) == 1:
            self._merge_down(target, frozen, children[0], active, open_chain,
                             known, progress)
        else:
            self._pull_up(target, frozen, children, active, open_chain, progress)
        progress(100)

    def _merge_down(self, target, frozen, child, active, open_chain, known,
                    progress):
        """Merge ``child`` into ``frozen``; ``frozen`` then stands for it."""
        timeout = CONF.libvirt.block_job_timeout
        if child == active and self.running:
            self._block_job(lambda: self.dom.blockCommit(
                target, frozen, None, 0,
                libvirt.VIR_DOMAIN_BLOCK_COMMIT_ACTIVE), target, timeout,
                progress, pivot=True)
        elif child in open_chain:
            self._block_job(lambda: self.dom.blockCommit(
                target, frozen, child, 0, 0), target, timeout, progress)
        else:
            qemu_img.commit(child, timeout=timeout, progress=progress)
            for grandchild in sorted(known - {child}):
                if os.path.exists(grandchild) and backing_of(grandchild) == child:
                    qemu_img.rebase_unsafe(grandchild, frozen)
            if child == active:
                self._redefine_disk(target, frozen)
        self._replace(target, child, frozen)
        self.unlink(child)

    def _pull_up(self, target, frozen, children, active, open_chain, progress):
        """Copy ``frozen``'s data into each child, then drop ``frozen``."""
        base = backing_of(frozen)
        removable = True
        for child in children:
            if child == active and self.running:
                self._block_job(lambda: self.dom.blockRebase(target, base, 0, 0),
                                target, CONF.libvirt.block_job_timeout, progress)
            elif child in open_chain:
                LOG.warning("Layer %s stays: %s rests on it and is open in the "
                            "running domain", frozen, child)
                removable = False
            else:
                qemu_img.rebase(child, base, timeout=CONF.libvirt.block_job_timeout,
                                progress=progress)
        if removable:
            self.unlink(frozen)

    def _block_job(self, start, target, timeout, progress, pivot=False):
        try:
            start()
        except libvirt.libvirtError as e:
            raise host_mod.error("merge a snapshot", str(e)) from e
        try:
            failpoints.hit("libvirt.delete.block_job_started")
            self.host.wait_block_job(self.dom, target, timeout, progress,
                                     pivot=pivot)
        except Exception as e:
            # A job left running (an active commit mirrors until someone
            # pivots) would block every later snapshot of the disk: cancel
            # it, without pivot, so the chain stays as it was.
            self.host.abort_block_job(self.dom, target)
            if isinstance(e, libvirt.libvirtError):
                raise host_mod.error("merge a snapshot", str(e)) from e
            raise
        failpoints.hit("libvirt.delete.block_job_done")

    def _redefine_disk(self, target, path):
        conn = self.host.connection()
        conn.defineXML(lxml_xml.set_disk_sources(
            self.dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE), {target: path}))

    def _replace(self, target, old, new):
        """Snapshots frozen in ``old`` are now frozen in ``new``."""
        for record in self.info["snapshots"].values():
            disks = record.get("disks") or {}
            if disks.get(target) == old:
                disks[target] = new


def active_chains(dom):
    """{target: the files of the disk's chain, active layer first}."""
    if dom is None:
        return {}
    return {d.target: [layer["filename"] for layer in
                       qemu_img.info(d.source, backing_chain=True)]
            for d in lxml_xml.disks(dom.XMLDesc(0))
            if d.is_snapshottable and d.type == "file"}


def unreferenced_files(directory, info, chains):
    """Files in a server's directory that nothing uses: no snapshot record,
    no disk chain of the domain. What a crash between two steps leaves."""
    used = frozen_files(info) | {f for chain in chains.values() for f in chain}
    used |= {rec.get("memory_file") for rec in info["snapshots"].values()}
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(os.path.join(directory, name) for name in names
                  if name.endswith((".qcow2", ".mem"))
                  and os.path.join(directory, name) not in used)

"""Assisted volume snapshots: what Nova's libvirt driver does for Cinder.

Cinder's NFS-style (remotefs) volume drivers keep a volume as a chain of qcow2
files in one directory: ``volume-<volume id>``, ``volume-<volume id>.<snapshot
id>``, ..., each backed by the one before it under a *relative* name. While the
volume is attached, only the hypervisor may change that chain, so Cinder asks:

- create: Cinder has made ``new_file`` (backed by the current file); the disk
  whose ``<serial>`` is the volume id is switched to it with
  ``snapshotCreateXML(DISK_ONLY|REUSE_EXT|NO_METADATA)``, every other disk
  ``snapshot='no'``. The file the guest wrote until then is the snapshot. The
  guest is frozen around the call as ``[libvirt] volume_snapshot_quiesce``
  says, by nativesnap's own bounded freeze (the one server snapshots use),
  which does what libvirt's QUIESCE flag does and also caps and measures it.
- delete: per ``delete_info``, a file is merged out of the chain: pulled into
  the active file (``blockRebase``, ``qemu-img rebase`` with the guest off) or
  committed into the file below it (``blockCommit``; the active file with a
  pivot, or ``qemu-img commit`` with the guest off), always keeping the
  backing names relative, as Cinder's info file expects.

The manager finds a volume's server by the attachments this interface lists
(``attached_volumes``: every disk whose ``<serial>`` is a volume UUID, see
``attached_volumes.py``), and asks it by volume id; each request finds the
disk again by its serial, so a volume detached meanwhile is noticed.

Every file name comes from Cinder and is checked again here
(``plain_file_name``) to be a plain name in the volume's own directory; it is
then only ever used joined to that directory (or, for qemu-img's relative
backing names, checked to be a member of the disk's chain first). Nothing
here deletes a file: the files merged out are Cinder's to remove.
"""

import dataclasses
import os
import stat
import time
import unicodedata

from oslo_log import log as logging
import tenacity

from nativesnap.common import states
from nativesnap.conf import CONF
from nativesnap import exception
from nativesnap.virt import driver
from nativesnap.virt.libvirt import attached_volumes
from nativesnap.virt.libvirt import host as host_mod
from nativesnap.virt.libvirt import qemu_img
from nativesnap.virt.libvirt import xml as lxml_xml

try:
    import libvirt
except ImportError:
    libvirt = None

LOG = logging.getLogger(__name__)

QUIESCE_REQUIRED = "required"
QUIESCE_OFF = "off"


# A paused guest must not stay paused: resuming is retried this long.
RESUME_TIMEOUT = 10


@tenacity.retry(stop=tenacity.stop_after_delay(RESUME_TIMEOUT),
                wait=tenacity.wait_exponential(multiplier=0.05, max=1),
                retry=tenacity.retry_if_exception_type(
                    libvirt.libvirtError if libvirt else Exception),
                reraise=True)
def _resume(dom):
    dom.resume()


def plain_file_name(what, name):
    """``name`` when it is a plain file name, else Invalid (400). Cinder names
    the files of an assisted volume snapshot; they are joined to the volume's
    directory only after this check.

    No '/', no '..', no ':' (QEMU reads a ``proto:`` prefix in a backing name
    as a protocol, e.g. ``json:{...}`` or ``nbd:...``), no control
    characters, 1-255 characters."""
    if (not isinstance(name, str) or not 1 <= len(name) <= 255 or "/" in name
            or ".." in name or ":" in name or name == "."
            or any(unicodedata.category(c) == "Cc" for c in name)):
        shown = repr(name)
        shown = shown if len(shown) <= 60 else shown[:60] + "..."
        raise exception.Invalid(
            reason=f"{what} {shown} is not a plain file name (1-255 "
                   "characters, no '/', '..', ':' or control characters)")
    return name


@dataclasses.dataclass
class VolumeDisk:
    """A domain's disk that is a Cinder volume: its serial is the volume id."""

    volume_id: str
    target: str  # e.g. vdb
    type: str  # file | block | network
    source: str | None  # the file the guest writes (None for network disks)
    driver_type: str | None  # qcow2 | raw | ...
    protocol: str | None = None


def _same_file(a, b):
    return a is not None and b is not None and (
        os.path.normpath(a) == os.path.normpath(b)
        or os.path.realpath(a) == os.path.realpath(b))


def _set_disk_source(domain_xml, target, path, driver_type):
    """The domain XML with disk ``target`` on ``path`` (format
    ``driver_type``); libvirt reads the backing chain from the file itself."""
    root = lxml_xml.parse(domain_xml)
    for node in root.findall("./devices/disk"):
        dev = node.find("target")
        if dev is None or dev.get("dev") != target:
            continue
        for child in node.findall("backingStore"):
            node.remove(child)
        node.find("source").set("file", path)
        node.find("driver").set("type", driver_type)
    return lxml_xml.tostring(root)


class AssistedVolumes(driver.VolumeSnapshotInterface):
    """The libvirt side of os-assisted-volume-snapshots, for one Host: each
    call finds the server's domain by its ``hypervisor_ref`` (the domain's
    UUID) and the volume's disk by the volume id."""

    def __init__(self, host):
        self.host = host

    # --- the volume's disk and chain ---------------------------------------

    def attached_volumes(self, context, server):
        """A VolumeAttachment for each volume disk of the domain (a volume
        on two disks counts once, by the first, the one requests act on);
        none when the domain is gone."""
        dom = self.host.find(server.hypervisor_ref)
        if dom is None:
            return []
        found = {}
        for disk in lxml_xml.disks(dom.XMLDesc(0)):
            volume_id = attached_volumes.volume_id_of(disk)
            if (disk.device == "disk" and disk.target and volume_id
                    and volume_id not in found):
                found[volume_id] = driver.VolumeAttachment(volume_id=volume_id,
                                                           device=disk.target)
        return list(found.values())

    @staticmethod
    def find_disk(dom, volume_id):
        """The VolumeDisk whose serial is ``volume_id`` (as Nova attaches
        Cinder volumes), or None."""
        wanted = volume_id.strip().lower()
        for disk in lxml_xml.disks(dom.XMLDesc(0)):
            if (disk.device == "disk" and disk.target
                    and (disk.serial or "").strip().lower() == wanted):
                return VolumeDisk(volume_id=wanted, target=disk.target,
                                  type=disk.type, source=disk.source,
                                  driver_type=disk.driver_type,
                                  protocol=disk.protocol)
        return None

    def _to_validate(self, server, volume_id):
        """(domain, VolumeDisk) of a request being validated. A volume not
        (or no longer) on the server's domain is refused as a volume on no
        server is: VolumeNotAttached (400)."""
        dom = self.host.find(server.hypervisor_ref)
        disk = self.find_disk(dom, volume_id) if dom is not None else None
        if disk is None:
            raise exception.VolumeNotAttached(volume_id=volume_id)
        self._check_file_disk(disk)
        return dom, disk

    def _disk(self, dom, volume_id):
        disk = self.find_disk(dom, volume_id)
        if disk is None:
            raise host_mod.error("find the volume's disk",
                                 f"volume {volume_id} is no longer attached")
        self._check_file_disk(disk)
        return disk

    @staticmethod
    def _check_file_disk(disk):
        if disk.type != "file" or not disk.source:
            what = (f"a {disk.protocol} network disk" if disk.protocol
                    else f"a {disk.type} disk")
            raise exception.Invalid(
                reason=f"volume {disk.volume_id} (disk {disk.target}) is {what}; "
                       "assisted snapshots are for file-based volumes (Cinder's "
                       "NFS-style drivers), whose chain is qcow2 files in one "
                       "directory")

    @staticmethod
    def _chain(path):
        """The files of ``path``'s chain, ``path`` first, and their formats."""
        layers = qemu_img.info(path, backing_chain=True)
        return ([os.path.normpath(layer["filename"]) for layer in layers],
                [layer.get("format") for layer in layers])

    @staticmethod
    def _names(chain):
        return [os.path.basename(p) for p in chain]

    # --- create --------------------------------------------------------------

    def validate_create(self, context, server, volume_id, create_info):
        """400 unless ``new_file`` is a plain name of an existing qcow2 file
        next to the disk's current file, backed by that file."""
        _dom, disk = self._to_validate(server, volume_id)
        self._new_file(disk, create_info)

    def _new_file(self, disk, create_info):
        name = plain_file_name("create_info.new_file",
                               create_info.get("new_file"))
        path = os.path.join(os.path.dirname(disk.source), name)
        if _same_file(path, disk.source):
            raise exception.Invalid(
                reason=f"new_file {name} is the file disk {disk.target} writes "
                       "now; name the new overlay Cinder made for the snapshot")
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            raise exception.Invalid(
                reason=f"new_file {name} does not exist next to the volume's "
                       "current file; Cinder creates it (backed by the current "
                       "file) before asking") from None
        if not stat.S_ISREG(mode):
            raise exception.Invalid(reason=f"new_file {name} is not a regular "
                                           "file")
        try:
            info = qemu_img.info(path)
        except qemu_img.QemuImgError as e:
            raise exception.Invalid(reason=f"new_file {name} cannot be read as an "
                                           f"image: {e.message}") from None
        backing = info.get("full-backing-filename") or info.get("backing-filename")
        if backing and not os.path.isabs(backing):
            backing = os.path.join(os.path.dirname(path), backing)
        if info.get("format") != "qcow2" or not _same_file(backing, disk.source):
            raise exception.Invalid(
                reason=f"new_file {name} must be a qcow2 file backed by the "
                       f"volume's current file {os.path.basename(disk.source)} "
                       f"(it is {info.get('format')}, backed by "
                       f"{os.path.basename(backing) if backing else 'nothing'})")
        backing_format = info.get("backing-filename-format")
        if backing_format and disk.driver_type and backing_format != disk.driver_type:
            raise exception.Invalid(
                reason=f"new_file {name} names its backing file's format "
                       f"{backing_format}, but disk {disk.target} is "
                       f"{disk.driver_type}")
        return path

    def create(self, context, server, volume_id, create_info, progress):
        dom = self.host.lookup(server.hypervisor_ref)
        disk = self._disk(dom, volume_id)
        self._stack_on_current(disk, create_info)
        new_path = self._new_file(disk, create_info)
        others = sorted({d.target for d in lxml_xml.disks(dom.XMLDesc(0))
                         if d.target and d.target != disk.target})
        doc = lxml_xml.snapshot_xml(create_info["snapshot_id"], None,
                                    {disk.target: new_path}, excluded=others)
        flags = (libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
                 | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT
                 | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA)
        progress(10)
        consistency, frozen_ms = self._snapshot(dom, doc, flags, volume_id)
        progress(90)
        now = self.find_disk(dom, volume_id)
        if now is None or not _same_file(now.source, new_path):
            raise host_mod.error(
                "switch the volume to its new file",
                f"disk {disk.target} writes {now.source if now else 'nothing'} "
                f"after the snapshot, not {new_path}")
        chain, _formats = self._chain(new_path)
        return driver.VolumeSnapshotResult(files={
            "disk": disk.target, "snapshot_file": disk.source,
            "new_file": new_path, "chain": self._names(chain),
            "consistency": consistency, "frozen_ms": frozen_ms})

    def _stack_on_current(self, disk, create_info):
        """Cinder made ``new_file`` on the file the volume wrote then; a
        server snapshot with include_volumes that ran between Cinder's
        request and its turn here has since put an overlay on top. Both must
        hold (docs/cinder.md): an empty ``new_file`` backed by a file further
        down the volume's chain is stacked on the current file instead (its
        backing name changed, relative as Cinder writes it), so Cinder's
        snapshot holds the volume as it is at its own switch."""
        name = create_info.get("new_file")
        directory = os.path.dirname(disk.source)
        path = os.path.join(directory, plain_file_name("create_info.new_file",
                                                       name))
        try:
            info = qemu_img.info(path)
        except qemu_img.QemuImgError:
            return  # _new_file says what is wrong with it
        backing = info.get("backing-filename")
        if not backing or os.path.isabs(backing) or _same_file(
                os.path.join(directory, backing), disk.source):
            return
        chain, _formats = self._chain(disk.source)
        below = [os.path.basename(p) for p in chain[1:]
                 if os.path.dirname(p) == directory]
        if backing not in below or qemu_img.holds_data(path):
            return
        LOG.info("Volume %s: %s was made on %s, which a server snapshot has "
                 "since covered; stacking it on %s", disk.volume_id, name,
                 backing, os.path.basename(disk.source))
        qemu_img.rebase_unsafe(path, os.path.basename(disk.source),
                               backing_format=disk.driver_type or "qcow2")

    def _snapshot(self, dom, doc, flags, volume_id):
        """snapshotCreateXML, frozen as configured; (consistency, frozen_ms).

        With the domain shut off libvirt points its definition at the new
        file (as Nova's call does): nothing writes, nothing to freeze."""
        if not dom.isActive():
            self._call(dom, doc, flags)
            return "offline", None
        mode = CONF.libvirt.volume_snapshot_quiesce
        running = host_mod.state_of(dom) == states.ACTIVE
        if mode != QUIESCE_OFF and running:
            try:
                with self.host.frozen(dom, CONF.libvirt.max_freeze_seconds) as freeze:
                    self._call(dom, doc, flags)
                # The watchdog thawed the guest before the call ended: only
                # as consistent as a power cut.
                return (states.CONSISTENCY_CRASH if freeze.fired
                        else states.CONSISTENCY_APPLICATION), freeze.frozen_ms
            except exception.QuiesceFailed as e:
                if mode == QUIESCE_REQUIRED:
                    raise
                LOG.warning("Assisted snapshot of volume %s: could not quiesce "
                            "(%s); taking it crash-consistent", volume_id, e)
        elif mode == QUIESCE_REQUIRED:
            raise exception.QuiesceFailed(
                server_id=dom.UUIDString(),
                reason=f"the domain is {host_mod.state_of(dom)}, its guest "
                       "agent cannot freeze it")
        self._call(dom, doc, flags)
        return states.CONSISTENCY_CRASH, None

    @staticmethod
    def _call(dom, doc, flags):
        try:
            dom.snapshotCreateXML(doc, flags)
        except libvirt.libvirtError as e:
            raise host_mod.error("create an assisted volume snapshot",
                                 str(e)) from e

    # --- delete --------------------------------------------------------------

    def validate_delete(self, context, server, volume_id, delete_info):
        """400 for what cannot be done: a network disk, bad names, and (as
        Nova) a commit of an intermediate file with the guest off."""
        dom, disk = self._to_validate(server, volume_id)
        self._names_of(delete_info)
        top, base = delete_info.get("file_to_merge"), delete_info.get(
            "merge_target_file")
        if base is not None and not dom.isActive() and top != os.path.basename(
                disk.source):
            raise exception.Invalid(
                reason=f"the server is shut off: merging {top} into {base} "
                       "needs the guest running (only the active file can be "
                       "committed offline); start the server and retry")

    @staticmethod
    def _names_of(delete_info):
        top = delete_info.get("file_to_merge")
        base = delete_info.get("merge_target_file")
        if top is not None:
            plain_file_name("delete_info.file_to_merge", top)
        if base is not None:
            plain_file_name("delete_info.merge_target_file", base)
            if top is None:
                raise exception.Invalid(reason="delete_info.file_to_merge is "
                                               "required to commit into "
                                               "merge_target_file")
        return top, base

    def delete(self, context, server, volume_id, delete_info, progress):
        dom = self.host.lookup(server.hypervisor_ref)
        disk = self._disk(dom, volume_id)
        top, base = self._names_of(delete_info)
        active = os.path.normpath(disk.source)
        directory = os.path.dirname(active)
        chain, formats = self._chain(active)
        before = self._names(chain)

        def index(what, name):
            path = os.path.join(directory, name)
            for i, layer in enumerate(chain):
                if _same_file(layer, path):
                    return i
            raise host_mod.error(
                "merge a volume snapshot",
                f"{what} {name} is not in the chain of volume {volume_id} "
                f"(disk {disk.target}: {' <- '.join(reversed(before))})")

        running = bool(dom.isActive())
        if base is None:
            # Pull: the active file takes in every layer above ``top``
            # (None: all of them, the oldest snapshot is going).
            at = index("file_to_merge", top) if top is not None else len(chain)
            if at == 0:
                raise host_mod.error("merge a volume snapshot",
                                     f"file_to_merge {top} is the active file; "
                                     "a pull needs a file below it")
            method = self._pull(dom, disk, active, top, formats, at, running,
                                progress)
            expected = [chain[0]] + chain[at:]
        else:
            at_top, at_base = index("file_to_merge", top), index(
                "merge_target_file", base)
            if at_base <= at_top:
                raise host_mod.error(
                    "merge a volume snapshot",
                    f"merge_target_file {base} is not a backing file of "
                    f"file_to_merge {top} in volume {volume_id}'s chain")
            method = self._commit(dom, disk, chain, formats, at_top, at_base,
                                  running, progress)
            expected = chain[:at_top] + chain[at_base:]
            if at_top == 0:
                expected = chain[at_base:]
        flush_ms = self._flush(dom) if running else None
        now = self.find_disk(dom, volume_id)
        if now is None:
            raise host_mod.error("merge a volume snapshot",
                                 f"volume {volume_id} was detached meanwhile")
        after, _ = self._chain(now.source)
        if [os.path.normpath(p) for p in after] != expected:
            raise host_mod.error(
                "merge a volume snapshot",
                f"the chain of volume {volume_id} is "
                f"{' <- '.join(reversed(self._names(after)))} after the "
                f"{method}, not {' <- '.join(reversed(self._names(expected)))}")
        return driver.VolumeSnapshotResult(files={
            "disk": disk.target, "method": method,
            "file_to_merge": os.path.join(directory, top) if top else None,
            "merge_target_file": os.path.join(directory, base) if base else None,
            "chain_before": before, "chain": self._names(after),
            "running": running, "flush_ms": flush_ms})

    def _flush(self, dom):
        """Make the merge durable before Cinder removes the file merged out.

        QEMU keeps the cluster mappings a block job wrote into a qcow2 file
        in its metadata cache until the next flush: read from outside, or
        after a crash of QEMU, a pulled-into active file lacks them while
        its old backing file is already gone. Pausing the vCPUs flushes
        every disk (QEMU's vm_stop); the guest is resumed at once. Returns
        how long the guest was paused (ms)."""
        if host_mod.state_of(dom) != states.ACTIVE:
            LOG.warning("Domain %s is not running; the merge is flushed at the "
                        "guest's next flush", dom.name())
            return None
        started = time.monotonic()
        try:
            dom.suspend()
        except libvirt.libvirtError as e:
            raise host_mod.error("flush the merged volume", str(e)) from e
        try:
            _resume(dom)
        except libvirt.libvirtError as e:
            LOG.error("Domain %s stays paused: resuming it after the flush "
                      "failed for %d s: %s", dom.name(), RESUME_TIMEOUT, e)
            raise host_mod.error("resume the guest after a flush", str(e)) from e
        return int((time.monotonic() - started) * 1000)

    def _pull(self, dom, disk, active, top, formats, at, running, progress):
        if running:
            base_path = os.path.join(os.path.dirname(active), top) if top else None
            flags = libvirt.VIR_DOMAIN_BLOCK_REBASE_RELATIVE if top else 0
            self._block_job(dom, disk.target, progress,
                            lambda: dom.blockRebase(disk.target, base_path, 0,
                                                    flags))
            return "pull"
        # Safe rebase: the active file keeps reading the same data; ``top``
        # (a checked member of the chain) stays a relative backing name.
        qemu_img.rebase(active, top, backing_format=formats[at] if top else "qcow2",
                        timeout=CONF.libvirt.block_job_timeout, progress=progress)
        return "qemu-img rebase"

    def _commit(self, dom, disk, chain, formats, at_top, at_base, running,
                progress):
        top_path, base_path = chain[at_top], chain[at_base]
        relative = libvirt.VIR_DOMAIN_BLOCK_COMMIT_RELATIVE
        if running and at_top == 0:
            self._block_job(dom, disk.target, progress,
                            lambda: dom.blockCommit(
                                disk.target, base_path, None, 0,
                                relative | libvirt.VIR_DOMAIN_BLOCK_COMMIT_ACTIVE),
                            pivot=True)
            return "active commit"
        if running:
            self._block_job(dom, disk.target, progress,
                            lambda: dom.blockCommit(disk.target, base_path,
                                                    top_path, 0, relative))
            return "commit"
        if at_top != 0 or at_base != 1:
            raise exception.Invalid(
                reason="with the server shut off only the active file can be "
                       "committed, into the file right below it")
        qemu_img.commit(top_path, timeout=CONF.libvirt.block_job_timeout,
                        progress=progress)
        # The domain now starts on the file the data went into.
        conn = self.host.connection()
        try:
            conn.defineXML(_set_disk_source(
                dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE), disk.target,
                base_path, formats[at_base] or "qcow2"))
        except libvirt.libvirtError as e:
            raise host_mod.error("point the disk at the merged file",
                                 str(e)) from e
        return "qemu-img commit"

    def _block_job(self, dom, target, progress, start, pivot=False):
        try:
            start()
            self.host.wait_block_job(dom, target,
                                     CONF.libvirt.block_job_timeout, progress,
                                     pivot=pivot)
        except libvirt.libvirtError as e:
            raise host_mod.error("merge a volume snapshot", str(e)) from e

    # --- start-up reconciliation ---------------------------------------------

    def reconcile(self, context, server, operation):
        """How far an interrupted assisted snapshot got: the guest is thawed
        first; a block job still running on the volume's disk is cancelled
        without a pivot (the chain stays as it was); then the chain says
        whether the work had been done."""
        dom = self.host.find(server.hypervisor_ref)
        if dom is None:
            return driver.Reconciled(completed=False,
                                     reason="the domain no longer exists")
        if dom.isActive():
            self.host.thaw(dom)
        disk = self.find_disk(dom, operation.volume_id)
        if disk is None or disk.type != "file" or not disk.source:
            return driver.Reconciled(completed=False,
                                     reason="the volume is no longer attached")
        request = operation.request or {}
        if operation.action == "create":
            done = os.path.basename(disk.source) == request.get("new_file")
            return driver.Reconciled(
                completed=done, reason="" if done else
                "the volume's disk was not switched to its new file")
        if dom.isActive() and dom.blockJobInfo(disk.target, 0):
            try:
                dom.blockJobAbort(disk.target, 0)
            except libvirt.libvirtError as e:
                LOG.warning("Cancelling the block job on %s: %s", disk.target, e)
        names = self._names(self._chain(disk.source)[0])
        top, base = request.get("file_to_merge"), request.get("merge_target_file")
        if base is None:
            done = names[1:2] == ([top] if top else [])
        else:
            done = top not in names
        return driver.Reconciled(completed=done, reason="" if done else
                                 "the volume's chain is as it was")

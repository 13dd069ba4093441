"""The libvirt/QEMU driver (DESIGN §4).

External snapshots (the default) are taken over all disks at once with
``snapshotCreateXML(DISK_ONLY|ATOMIC|NO_METADATA)``: each disk's current file is
frozen and a new overlay (named by UUID) takes the writes. nativesnap keeps its
own record of which frozen file holds each snapshot of each disk, in the
server's ``driver_info``::

    {"snapshots": {<snapshot id>: {"kind": "external",
                                   "disks": {"vda": <frozen file>, ...},
                                   "memory_file": <path> | null}}}

and that record, not libvirt's snapshot metadata, is the truth: libvirt 9.0
cannot revert external snapshots, and its metadata goes stale once nativesnap
reverts them itself. Internal snapshots (qcow2 ``savevm``) keep libvirt's
metadata and use its revert and delete.

The layer bookkeeping for delete lives in ``chain.py``; what the verbs share
with start-up reconciliation (``reconcile.py``) in ``bookkeeping.py``;
Cinder's assisted volume snapshots, an interface of their own, in
``volume.py``. Changes made to domains from outside (a guest stopped, a disk
attached) reach the manager as events (``events.py``).
"""

import hashlib
import os
import shutil
import time
import uuid

from oslo_log import log as logging

from nativesnap.common import failpoints
from nativesnap.common import states
from nativesnap.conf import CONF
from nativesnap import exception
from nativesnap.virt import driver
from nativesnap.virt.libvirt import attached_volumes
from nativesnap.virt.libvirt import bookkeeping
from nativesnap.virt.libvirt import chain
from nativesnap.virt.libvirt import host as host_mod
from nativesnap.virt.libvirt import memory
from nativesnap.virt.libvirt import qemu_img
from nativesnap.virt.libvirt import reconcile
from nativesnap.virt.libvirt import volume as assisted_volume
from nativesnap.virt.libvirt import xml as lxml_xml

try:
    import libvirt
except ImportError:
    libvirt = None

LOG = logging.getLogger(__name__)

# libvirt reverts external snapshots itself from 9.9 on; before that
# nativesnap does it (new overlay on the frozen file, disks swapped).
LIBVIRT_EXTERNAL_REVERT = 9_009_000


class LibvirtDriver(driver.ComputeDriver):
    name = "libvirt"
    capabilities = {"memory": True, "quiesce": True, "revert_any": True,
                    "tree": True, "linked_spawn": True, "export": True}

    def __init__(self):
        # Domain events reach the manager through emit_event (see events.py).
        self.host = host_mod.Host(on_event=self.emit_event)
        self.assisted = assisted_volume.AssistedVolumes(self.host)
        self.reconciler = reconcile.Reconciler(self.host, self.destroy_server)

    def init_host(self, host):
        self.host.connection()
        os.makedirs(CONF.libvirt.overlay_path, mode=0o700, exist_ok=True)
        self.host.resume_pending_thaws()

    def cleanup_host(self):
        self.host.close()

    # --- helpers ------------------------------------------------------------------

    def _domain(self, server):
        return self.host.lookup(server.hypervisor_ref)

    def _check_disks(self, disks):
        if not disks:
            raise exception.Invalid(reason="the domain has no writable disk to "
                                           "snapshot")
        for disk in disks:
            if disk.type != "file" or disk.driver_type != "qcow2":
                what = (f"a {disk.protocol} network disk" if disk.protocol else
                        f"a {disk.driver_type or 'unknown'}-format {disk.type} disk")
                raise exception.Invalid(
                    reason=f"disk {disk.target} is {what}; nativesnap's libvirt "
                           "snapshots need qcow2 files (convert it with "
                           "qemu-img convert -O qcow2, or leave it out of the "
                           "domain)")

    def get_capabilities(self, server):
        return dict(self.capabilities)

    # --- servers ------------------------------------------------------------------

    def adopt(self, context, hypervisor_ref):
        dom = self.host.lookup(hypervisor_ref)
        return driver.AdoptedObject(hypervisor_ref=dom.UUIDString(),
                                    name=dom.name(),
                                    status=host_mod.state_of(dom))

    def get_server_state(self, context, server):
        dom = self.host.find(server.hypervisor_ref)
        return states.SERVER_ERROR if dom is None else host_mod.state_of(dom)

    def destroy_server(self, context, server):
        # A spawned domain's UUID is the server's id, also while the server
        # still holds its "building:" placeholder (a spawn failing after
        # its define: the domain must not outlive it).
        building = server.hypervisor_ref.startswith("building:")
        dom = self.host.find(server.id if building else server.hypervisor_ref)
        if dom is not None:
            self.host.stop(dom)
            flags = (libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                     | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
                     | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
            try:
                dom.undefineFlags(flags)
            except libvirt.libvirtError as e:
                if e.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise
        # A spawned server's files are all in its own directory.
        shutil.rmtree(os.path.join(CONF.libvirt.overlay_path, server.id),
                      ignore_errors=True)

    # --- create -----------------------------------------------------------------

    def validate_snapshot_request(self, server, kind, memory, quiesce,
                                  include_volumes):
        dom = self._domain(server)
        disks, volumes = bookkeeping.own_disks(dom)
        self._check_disks(disks)
        if include_volumes:
            if memory or (kind or states.KIND_EXTERNAL) != states.KIND_EXTERNAL:
                raise exception.Invalid(
                    reason="include_volumes takes disk-only external snapshots "
                           "(memory: false, kind 'external'): a volume's chain "
                           "is Cinder's, and Cinder's chains are qcow2 overlays")
            for target, (disk, _volume_id) in volumes.items():
                attached_volumes.check_snapshottable(target, disk)
        existing = {s.get("kind")
                    for s in bookkeeping.info(server)["snapshots"].values()}
        kind = kind or states.KIND_EXTERNAL
        if existing and kind not in existing:
            raise exception.Invalid(
                reason=f"this server already has {existing.pop()} snapshots; "
                       "internal and external snapshots cannot be mixed on one "
                       "disk chain")
        running = dom.isActive()
        if kind == states.KIND_INTERNAL:
            if quiesce == states.QUIESCE_REQUIRED:
                raise exception.Invalid(reason="internal snapshots cannot quiesce "
                                               "the guest (libvirt quiesces "
                                               "disk-only external snapshots "
                                               "only); use kind 'external'")
            if running and not memory:
                raise exception.Invalid(reason="libvirt cannot take an internal "
                                               "disk-only snapshot of a running "
                                               "domain; use memory: true or kind "
                                               "'external'")
        if memory and not running:
            raise exception.Invalid(reason="the domain is not running, so it has "
                                           "no memory to save; use memory: false")
        if (quiesce == states.QUIESCE_REQUIRED and not memory
                and kind == states.KIND_EXTERNAL):
            if not running:
                raise exception.QuiesceFailed(server_id=server.id,
                                              reason="the domain is not running")
            if not self.host.agent_alive(dom):
                raise exception.QuiesceFailed(
                    server_id=server.id,
                    reason="the guest agent does not answer; start qemu-ga in "
                           "the guest or use quiesce 'preferred' or 'off'")

    def validate_revert(self, server, snapshot):
        record = bookkeeping.info(server)["snapshots"].get(snapshot.id) or {}
        volumes = record.get("volumes") or {}
        if volumes:
            current = {d.target: d.source
                       for d in bookkeeping.disks(self._domain(server))}
            for target, volume in sorted(volumes.items()):
                attached_volumes.check_revertible(target, volume,
                                                  current.get(target))

    def attached_volume_ids(self, server):
        _disks, volumes = bookkeeping.own_disks(self._domain(server))
        return [volume_id for _target, (_disk, volume_id) in sorted(volumes.items())]

    def create_snapshot(self, context, server, snapshot, progress):
        dom = self._domain(server)
        kind = snapshot.kind or states.KIND_EXTERNAL
        inactive_xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        disks, volumes = bookkeeping.own_disks(dom)
        self._check_disks(disks)
        progress(5)
        if kind == states.KIND_INTERNAL:
            result = self._create_internal(dom, server, snapshot, disks)
        else:
            result = self._create_external(dom, server, snapshot, disks, volumes,
                                           progress)
        result.driver_info["domain_xml"] = inactive_xml
        progress(100)
        return result

    def _create_internal(self, dom, server, snapshot, disks):
        doc = lxml_xml.snapshot_xml(snapshot.id, snapshot.name,
                                    {d.target: None for d in disks}, internal=True)
        started = time.monotonic()
        try:
            dom.snapshotCreateXML(doc, 0)
        except libvirt.libvirtError as e:
            raise host_mod.error("create an internal snapshot", str(e)) from e
        elapsed = int((time.monotonic() - started) * 1000)
        memory = bool(snapshot.memory)
        info = bookkeeping.info(server)
        info["snapshots"][snapshot.id] = {"kind": states.KIND_INTERNAL}
        return driver.SnapshotResult(
            kind=states.KIND_INTERNAL,
            consistency=(states.CONSISTENCY_MEMORY if memory
                         else states.CONSISTENCY_CRASH),
            paused_ms=elapsed if memory else None, memory=memory,
            disks=[{"target": d.target, "format": "qcow2"} for d in disks],
            driver_info={"kind": states.KIND_INTERNAL},
            server_driver_info=info)

    def _create_external(self, dom, server, snapshot, disks, volumes, progress):
        directory = bookkeeping.server_dir(server.id)
        overlays = {d.target: chain.overlay_path(directory, snapshot.id, d.target)
                    for d in disks}
        memory_file = (os.path.join(directory, f"{snapshot.id}.mem")
                       if snapshot.memory else None)
        # Volumes join the same snapshotCreateXML call (one freeze) only when
        # asked for; otherwise they are named snapshot='no', since libvirt
        # would give an unnamed disk an overlay of its own choosing.
        cinder_ids = {v["volume_id"]: v["snapshot_id"]
                      for v in (snapshot.volumes or [])}
        included = volumes if snapshot.include_volumes else {}
        volume_overlays = {}
        excluded = sorted(set(volumes) - set(included))
        # REUSE_EXT: the overlays are made here, before the guest is frozen
        # or paused, so that window holds only libvirt's switch to them
        # (libvirt would otherwise create them inside it, ≈ 30-50 ms).
        flags = (libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA
                 | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC
                 | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT)
        if not memory_file:
            flags |= libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
        frozen_ms = paused_ms = saved = None
        consistency = states.CONSISTENCY_CRASH
        running = dom.isActive()
        try:
            for disk in disks:
                qemu_img.create_overlay(overlays[disk.target], disk.source,
                                        backing_format=disk.driver_type)
            for target, (disk, volume_id) in sorted(included.items()):
                if volume_id not in cinder_ids:
                    raise host_mod.error("create a snapshot",
                                         f"no Cinder snapshot was made for "
                                         f"volume {volume_id}")
                volume_overlays[target] = attached_volumes.create_overlay(
                    disk, volume_id, cinder_ids[volume_id])
            failpoints.hit("libvirt.create.overlays_created")
            doc = lxml_xml.snapshot_xml(snapshot.id, snapshot.name,
                                        {**overlays, **volume_overlays},
                                        memory_file=memory_file,
                                        excluded=excluded)
            if memory_file:  # RAM saved live, pause timed: see memory.py
                saved = memory.save(dom, doc, flags, memory_file, progress)
                failpoints.hit("libvirt.create.after_snapshot_call")
                paused_ms = saved.paused_ms
                consistency = states.CONSISTENCY_MEMORY
            elif running and snapshot.quiesce != states.QUIESCE_OFF:
                consistency, frozen_ms = self._quiesced_snapshot(
                    dom, server, snapshot, doc, flags)
            else:
                self._snapshot_call(dom, doc, flags)
        except Exception:
            # ATOMIC: libvirt switched to no overlay or undid it; remove
            # what is left (the overlays made above included).
            in_use = {d.source for d in bookkeeping.disks(dom)}
            for path in list(overlays.values()) + [memory_file]:
                if path and path not in in_use:
                    bookkeeping.unlink(path)
            for path in volume_overlays.values():
                if path not in in_use:  # made here, in Cinder's directory
                    os.unlink(path)
            raise
        frozen = {d.target: d.source for d in disks}
        size = sum(chain.allocated_bytes(p) for p in frozen.values())
        if memory_file:
            os.chmod(memory_file, 0o600)
            size += chain.allocated_bytes(memory_file)
        info = bookkeeping.info(server)
        record = {"kind": states.KIND_EXTERNAL, "disks": frozen,
                  "memory_file": memory_file}
        record["volumes"] = attached_volumes.record_volumes(included, volume_overlays,
                                                 cinder_ids)
        info["snapshots"][snapshot.id] = record
        return driver.SnapshotResult(
            kind=states.KIND_EXTERNAL, consistency=consistency,
            frozen_ms=frozen_ms, paused_ms=paused_ms, size_bytes=size,
            memory=bool(memory_file),
            disks=[{"target": d.target, "format": "qcow2"} for d in disks] + [
                {"target": t, "format": "qcow2", "volume_id": v["volume_id"]}
                for t, v in sorted(record["volumes"].items())],
            volumes=[{"volume_id": v["volume_id"], "snapshot_id": v["snapshot_id"],
                      "target": t} for t, v in sorted(record["volumes"].items())],
            driver_info={"kind": states.KIND_EXTERNAL, **(
                {"memory_save": saved.record()} if saved else {})},
            server_driver_info=info)

    def _snapshot_call(self, dom, doc, flags):
        try:
            dom.snapshotCreateXML(doc, flags)
        except libvirt.libvirtError as e:
            raise host_mod.error("create a snapshot", str(e)) from e
        failpoints.hit("libvirt.create.after_snapshot_call")

    def _quiesced_snapshot(self, dom, server, snapshot, doc, flags):
        """Freeze (bounded), snapshot, thaw. Falls back to crash-consistent
        when quiesce is only preferred and the agent cannot freeze."""
        failpoints.hit("libvirt.create.before_freeze")
        try:
            with self.host.frozen(dom, CONF.libvirt.max_freeze_seconds) as freeze:
                failpoints.hit("libvirt.create.after_freeze")
                self._snapshot_call(dom, doc, flags)
        except exception.QuiesceFailed as e:
            if snapshot.quiesce == states.QUIESCE_REQUIRED:
                raise
            LOG.warning("Snapshot %s of server %s: could not quiesce (%s); "
                        "taking it crash-consistent", snapshot.id, server.id, e)
            self._snapshot_call(dom, doc, flags)
            return states.CONSISTENCY_CRASH, None
        failpoints.hit("libvirt.create.after_thaw")
        if freeze.fired:
            # The watchdog thawed the guest before the snapshot was taken:
            # the snapshot is only as consistent as a power cut.
            return states.CONSISTENCY_CRASH, freeze.frozen_ms
        return states.CONSISTENCY_APPLICATION, freeze.frozen_ms

    # --- revert -----------------------------------------------------------------

    def revert_to_snapshot(self, context, server, snapshot, power_on, progress):
        dom = self._domain(server)
        record = bookkeeping.info(server)["snapshots"].get(snapshot.id)
        if record is None:
            raise host_mod.error("revert", f"no record of snapshot {snapshot.id} "
                                           "on this server")
        if record.get("kind") == states.KIND_INTERNAL:
            return self._revert_internal(dom, snapshot, power_on)
        return self._revert_external(dom, server, record, power_on, progress)

    def _revert_internal(self, dom, snapshot, power_on):
        try:
            snap = dom.snapshotLookupByName(snapshot.id, 0)
            flags = libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING if power_on else 0
            dom.revertToSnapshot(snap, flags)
            if not power_on:
                self.host.stop(dom)
        except libvirt.libvirtError as e:
            raise host_mod.error("revert to an internal snapshot", str(e)) from e
        return driver.RevertResult(status=host_mod.state_of(dom))

    def _revert_external(self, dom, server, record, power_on, progress):
        info = bookkeeping.info(server)
        directory = bookkeeping.server_dir(server.id)
        current = {d.target: d.source for d in bookkeeping.disks(dom)}
        volumes = record.get("volumes") or {}
        for target, volume in sorted(volumes.items()):
            attached_volumes.check_revertible(target, volume, current.get(target))
        old_active = {t: p for t, p in current.items() if t not in volumes}
        new_active = {}
        persistent = dom.isPersistent()
        was_running = dom.isActive()
        # A transient domain vanishes when stopped: keep its definition.
        definition = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        try:
            for target, frozen in sorted(record["disks"].items()):
                # Named by the task, so recovery can tell them from older layers.
                path = chain.overlay_path(directory,
                                          server.task_id or str(uuid.uuid4()),
                                          target)
                qemu_img.create_overlay(path, frozen)
                new_active[target] = path
            failpoints.hit("libvirt.revert.overlays_created")
            progress(30)
            self.host.stop(dom)
            failpoints.hit("libvirt.revert.domain_stopped")
            for volume in volumes.values():
                attached_volumes.reset_overlay(volume)
            conn = self.host.connection()
            if persistent:
                conn.defineXML(lxml_xml.set_disk_sources(definition, new_active))
            failpoints.hit("libvirt.revert.after_define")
            memory_file = record.get("memory_file")
            if power_on and memory_file:
                saved = conn.saveImageGetXMLDesc(memory_file, 0)
                conn.restoreFlags(memory_file,
                                  lxml_xml.set_disk_sources(saved, new_active),
                                  libvirt.VIR_DOMAIN_SAVE_RUNNING)
            elif power_on and persistent:
                dom.create()
            elif power_on:
                conn.createXML(lxml_xml.set_disk_sources(definition, new_active), 0)
        except Exception as e:
            self._undo_revert(dom, persistent, definition, was_running, new_active)
            if isinstance(e, libvirt.libvirtError):
                raise host_mod.error("revert", str(e)) from e
            raise
        failpoints.hit("libvirt.revert.after_start")
        progress(90)
        # The discarded active layers go, unless something still reads them.
        chain.remove_unreferenced(info, old_active.values(), bookkeeping.unlink)
        dom = self.host.find(server.hypervisor_ref)
        status = states.SHUTOFF if dom is None else host_mod.state_of(dom)
        return driver.RevertResult(status=status, server_driver_info=info)

    def _undo_revert(self, dom, persistent, definition, was_running, new_active):
        """A revert that failed before the domain ran on the new overlays
        (an error, a cancellation) puts the domain back as it was: its old
        definition, started again if it ran (a boot: its RAM is gone), and
        the new overlays removed. Never leave a server off by a failure."""
        try:
            now = self.host.find(dom.UUIDString())  # a transient one vanished
            if now is None or not now.isActive():
                conn = self.host.connection()
                if persistent:
                    now = conn.defineXML(definition)
                    if was_running:
                        now.create()
                elif was_running:
                    conn.createXML(definition, 0)
        except (libvirt.libvirtError, exception.NativesnapException) as e:
            LOG.error("Could not put domain %s back as it was before the "
                      "failed revert: %s", dom.UUIDString(), e)
        for path in new_active.values():
            bookkeeping.unlink(path)

    # --- delete -----------------------------------------------------------------

    def delete_snapshot(self, context, server, snapshot, progress):
        info = bookkeeping.info(server)
        record = info["snapshots"].get(snapshot.id)
        dom = self.host.find(server.hypervisor_ref)
        if record is None:
            return driver.DeleteResult(server_driver_info=info)  # nothing to undo
        if record.get("kind") == states.KIND_INTERNAL:
            if dom is not None:
                try:
                    dom.snapshotLookupByName(snapshot.id, 0).delete(0)
                except libvirt.libvirtError as e:
                    if e.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT:
                        raise host_mod.error("delete an internal snapshot",
                                             str(e)) from e
        else:
            chain.Merger(self.host, dom, info, snapshot.id, bookkeeping.unlink,
                         progress).run()
            bookkeeping.unlink(record.get("memory_file"))
        info["snapshots"].pop(snapshot.id, None)
        return driver.DeleteResult(server_driver_info=info)

    # --- spawn ------------------------------------------------------------------

    def spawn_from_snapshot(self, context, source_server, snapshot, new_server,
                            linked, power_on, progress):
        record = bookkeeping.info(source_server)["snapshots"].get(snapshot.id)
        if record is None or record.get("kind") != states.KIND_EXTERNAL:
            self._unsupported("spawn_from_snapshot",
                              "spawning from internal snapshots")
        directory = bookkeeping.server_dir(new_server.id)
        sources = {}
        try:
            targets = sorted(record["disks"])
            for index, target in enumerate(targets):
                path = os.path.join(directory, f"{uuid.uuid4()}.qcow2")
                if linked:
                    qemu_img.create_overlay(path, record["disks"][target])
                else:
                    def step(percent, i=index):
                        failpoints.hit("libvirt.spawn.converting")
                        progress(int((i * 100 + percent) / len(targets)))
                    qemu_img.convert(record["disks"][target], path, progress=step,
                                     timeout=CONF.libvirt.copy_timeout)
                sources[target] = path
            failpoints.hit("libvirt.spawn.disks_created")
            domain_xml = lxml_xml.for_new_domain(
                snapshot.driver_info["domain_xml"], f"nativesnap-{new_server.id}",
                new_server.id, sources, os.path.join(directory, "console.log"))
            conn = self.host.connection()
            dom = conn.defineXML(domain_xml)
            failpoints.hit("libvirt.spawn.after_define")
            if power_on:
                dom.create()
            failpoints.hit("libvirt.spawn.after_start")
        except Exception:
            self.destroy_server(context, new_server)
            raise
        return driver.SpawnResult(hypervisor_ref=dom.UUIDString(),
                                  status=host_mod.state_of(dom),
                                  driver_info={"snapshots": {}})

    # --- export -----------------------------------------------------------------

    def export_snapshot(self, context, server, snapshot, dest_path, disk_format,
                        progress):
        record = bookkeeping.info(server)["snapshots"].get(snapshot.id)
        if record is None or record.get("kind") != states.KIND_EXTERNAL:
            self._unsupported("export_snapshot", "exporting internal snapshots")
        # The image is the first disk of the domain (its boot disk).
        order = [d.target for d in lxml_xml.disks(snapshot.driver_info["domain_xml"])
                 if d.target in record["disks"]]
        def step(percent):
            failpoints.hit("libvirt.export.converting")
            progress(percent)
        qemu_img.convert(record["disks"][order[0]], dest_path, progress=step,
                         timeout=CONF.libvirt.copy_timeout)
        failpoints.hit("libvirt.export.converted")
        digest = hashlib.sha256()
        with open(dest_path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return driver.ExportResult(size_bytes=os.path.getsize(dest_path),
                                   sha256=digest.hexdigest())

    # --- optional interfaces -----------------------------------------------------

    def interfaces(self):
        return {driver.VOLUME_SNAPSHOT: self.assisted}

    # --- reconciliation (see reconcile.py) ----------------------------------------

    def reconcile(self, context, server, task_state, target):
        return self.reconciler.reconcile(server, task_state, target)

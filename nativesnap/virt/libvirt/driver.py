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

The layer bookkeeping for delete lives in ``chain.py``.
"""

import hashlib
import os
import shutil
import time
import uuid

from oslo_log import log as logging

from nativesnap.common import states
from nativesnap.conf import CONF
from nativesnap import exception
from nativesnap.virt import driver
from nativesnap.virt.libvirt import chain
from nativesnap.virt.libvirt import host as host_mod
from nativesnap.virt.libvirt import qemu_img
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
        self.host = host_mod.Host()

    def init_host(self, host):
        self.host.connection()
        os.makedirs(CONF.libvirt.overlay_path, mode=0o700, exist_ok=True)

    def cleanup_host(self):
        self.host.close()

    # --- helpers ------------------------------------------------------------------

    def _server_dir(self, server_id):
        path = os.path.join(CONF.libvirt.overlay_path, server_id)
        os.makedirs(path, mode=0o700, exist_ok=True)
        return path

    def _owned(self, path):
        """Only files under overlay_path were made by nativesnap; nothing
        else (an adopted domain's own disks) is ever deleted."""
        root = os.path.realpath(CONF.libvirt.overlay_path) + os.sep
        return path is not None and os.path.realpath(path).startswith(root)

    def _unlink(self, path):
        if self._owned(path):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def _domain(self, server):
        return self.host.lookup(server.hypervisor_ref)

    def _disks(self, dom):
        return [d for d in lxml_xml.disks(dom.XMLDesc(0)) if d.is_snapshottable]

    @staticmethod
    def _info(server):
        info = dict(server.driver_info or {})
        info["snapshots"] = dict(info.get("snapshots") or {})
        return info

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
        dom = self.host.find(server.hypervisor_ref)
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
        if include_volumes:
            self._unsupported("create_snapshot", "include_volumes")
        dom = self._domain(server)
        disks = self._disks(dom)
        self._check_disks(disks)
        existing = {s.get("kind") for s in self._info(server)["snapshots"].values()}
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

    def create_snapshot(self, context, server, snapshot, progress):
        dom = self._domain(server)
        kind = snapshot.kind or states.KIND_EXTERNAL
        inactive_xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        disks = self._disks(dom)
        self._check_disks(disks)
        progress(5)
        if kind == states.KIND_INTERNAL:
            result = self._create_internal(dom, server, snapshot, disks)
        else:
            result = self._create_external(dom, server, snapshot, disks)
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
        info = self._info(server)
        info["snapshots"][snapshot.id] = {"kind": states.KIND_INTERNAL}
        return driver.SnapshotResult(
            kind=states.KIND_INTERNAL,
            consistency=(states.CONSISTENCY_MEMORY if memory
                         else states.CONSISTENCY_CRASH),
            paused_ms=elapsed if memory else None, memory=memory,
            disks=[{"target": d.target, "format": "qcow2"} for d in disks],
            driver_info={"kind": states.KIND_INTERNAL},
            server_driver_info=info)

    def _create_external(self, dom, server, snapshot, disks):
        directory = self._server_dir(server.id)
        overlays = {d.target: chain.overlay_path(directory, snapshot.id, d.target)
                    for d in disks}
        memory_file = (os.path.join(directory, f"{snapshot.id}.mem")
                       if snapshot.memory else None)
        doc = lxml_xml.snapshot_xml(snapshot.id, snapshot.name, overlays,
                                    memory_file=memory_file)
        # REUSE_EXT: the overlays are made here, before the guest is frozen
        # or paused, so that window holds only libvirt's switch to them
        # (libvirt would otherwise create them inside it, ≈ 30-50 ms).
        flags = (libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA
                 | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC
                 | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT)
        if not memory_file:
            flags |= libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
        frozen_ms = paused_ms = None
        consistency = states.CONSISTENCY_CRASH
        running = dom.isActive()
        try:
            for disk in disks:
                qemu_img.create_overlay(overlays[disk.target], disk.source,
                                        backing_format=disk.driver_type)
            if memory_file:
                started = time.monotonic()
                self._snapshot_call(dom, doc, flags)
                # Without the LIVE flag the vCPUs stay paused for the whole call.
                paused_ms = int((time.monotonic() - started) * 1000)
                consistency = states.CONSISTENCY_MEMORY
            elif running and snapshot.quiesce != states.QUIESCE_OFF:
                consistency, frozen_ms = self._quiesced_snapshot(
                    dom, server, snapshot, doc, flags)
            else:
                self._snapshot_call(dom, doc, flags)
        except Exception:
            # ATOMIC: libvirt switched to no overlay or undid it; remove
            # what is left (the overlays made above included).
            for path in list(overlays.values()) + [memory_file]:
                if path and path not in {d.source for d in self._disks(dom)}:
                    self._unlink(path)
            raise
        frozen = {d.target: d.source for d in disks}
        size = sum(chain.allocated_bytes(p) for p in frozen.values())
        if memory_file:
            os.chmod(memory_file, 0o600)
            size += chain.allocated_bytes(memory_file)
        info = self._info(server)
        info["snapshots"][snapshot.id] = {"kind": states.KIND_EXTERNAL,
                                          "disks": frozen,
                                          "memory_file": memory_file}
        return driver.SnapshotResult(
            kind=states.KIND_EXTERNAL, consistency=consistency,
            frozen_ms=frozen_ms, paused_ms=paused_ms, size_bytes=size,
            memory=bool(memory_file),
            disks=[{"target": d.target, "format": "qcow2"} for d in disks],
            driver_info={"kind": states.KIND_EXTERNAL},
            server_driver_info=info)

    def _snapshot_call(self, dom, doc, flags):
        try:
            dom.snapshotCreateXML(doc, flags)
        except libvirt.libvirtError as e:
            raise host_mod.error("create a snapshot", str(e)) from e

    def _quiesced_snapshot(self, dom, server, snapshot, doc, flags):
        """Freeze (bounded), snapshot, thaw. Falls back to crash-consistent
        when quiesce is only preferred and the agent cannot freeze."""
        try:
            with self.host.frozen(dom, CONF.libvirt.max_freeze_seconds) as freeze:
                self._snapshot_call(dom, doc, flags)
        except exception.QuiesceFailed as e:
            if snapshot.quiesce == states.QUIESCE_REQUIRED:
                raise
            LOG.warning("Snapshot %s of server %s: could not quiesce (%s); "
                        "taking it crash-consistent", snapshot.id, server.id, e)
            self._snapshot_call(dom, doc, flags)
            return states.CONSISTENCY_CRASH, None
        if freeze.fired:
            # The watchdog thawed the guest before the snapshot was taken:
            # the snapshot is only as consistent as a power cut.
            return states.CONSISTENCY_CRASH, freeze.frozen_ms
        return states.CONSISTENCY_APPLICATION, freeze.frozen_ms

    # --- revert -----------------------------------------------------------------

    def revert_to_snapshot(self, context, server, snapshot, power_on, progress):
        dom = self._domain(server)
        record = self._info(server)["snapshots"].get(snapshot.id)
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
        info = self._info(server)
        directory = self._server_dir(server.id)
        old_active = {d.target: d.source for d in self._disks(dom)}
        new_active = {}
        for target, frozen in sorted(record["disks"].items()):
            path = os.path.join(directory, f"{uuid.uuid4()}.qcow2")
            qemu_img.create_overlay(path, frozen)
            new_active[target] = path
        progress(30)
        try:
            persistent = dom.isPersistent()
            # A transient domain vanishes when stopped: keep its definition.
            definition = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
            self.host.stop(dom)
            conn = self.host.connection()
            if persistent:
                conn.defineXML(lxml_xml.set_disk_sources(definition, new_active))
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
        except libvirt.libvirtError as e:
            for path in new_active.values():
                self._unlink(path)
            raise host_mod.error("revert", str(e)) from e
        progress(90)
        # The discarded active layers go, unless something still reads them.
        chain.remove_unreferenced(info, old_active.values(), self._unlink)
        dom = self.host.find(server.hypervisor_ref)
        status = states.SHUTOFF if dom is None else host_mod.state_of(dom)
        return driver.RevertResult(status=status, server_driver_info=info)

    # --- delete -----------------------------------------------------------------

    def delete_snapshot(self, context, server, snapshot, progress):
        info = self._info(server)
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
            chain.Merger(self.host, dom, info, snapshot.id, self._unlink,
                         progress).run()
            self._unlink(record.get("memory_file"))
        info["snapshots"].pop(snapshot.id, None)
        return driver.DeleteResult(server_driver_info=info)

    # --- spawn ------------------------------------------------------------------

    def spawn_from_snapshot(self, context, source_server, snapshot, new_server,
                            linked, power_on, progress):
        record = self._info(source_server)["snapshots"].get(snapshot.id)
        if record is None or record.get("kind") != states.KIND_EXTERNAL:
            self._unsupported("spawn_from_snapshot",
                              "spawning from internal snapshots")
        directory = self._server_dir(new_server.id)
        sources = {}
        try:
            targets = sorted(record["disks"])
            for index, target in enumerate(targets):
                path = os.path.join(directory, f"{uuid.uuid4()}.qcow2")
                if linked:
                    qemu_img.create_overlay(path, record["disks"][target])
                else:
                    def step(percent, i=index):
                        progress(int((i * 100 + percent) / len(targets)))
                    qemu_img.convert(record["disks"][target], path, progress=step,
                                     timeout=CONF.libvirt.copy_timeout)
                sources[target] = path
            domain_xml = lxml_xml.for_new_domain(
                snapshot.driver_info["domain_xml"], f"nativesnap-{new_server.id}",
                new_server.id, sources, os.path.join(directory, "console.log"))
            conn = self.host.connection()
            dom = conn.defineXML(domain_xml)
            if power_on:
                dom.create()
        except Exception:
            self.destroy_server(context, new_server)
            raise
        return driver.SpawnResult(hypervisor_ref=dom.UUIDString(),
                                  status=host_mod.state_of(dom),
                                  driver_info={"snapshots": {}})

    # --- export -----------------------------------------------------------------

    def export_snapshot(self, context, server, snapshot, dest_path, disk_format,
                        progress):
        record = self._info(server)["snapshots"].get(snapshot.id)
        if record is None or record.get("kind") != states.KIND_EXTERNAL:
            self._unsupported("export_snapshot", "exporting internal snapshots")
        # The image is the first disk of the domain (its boot disk).
        order = [d.target for d in lxml_xml.disks(snapshot.driver_info["domain_xml"])
                 if d.target in record["disks"]]
        qemu_img.convert(record["disks"][order[0]], dest_path, progress=progress,
                         timeout=CONF.libvirt.copy_timeout)
        digest = hashlib.sha256()
        with open(dest_path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return driver.ExportResult(size_bytes=os.path.getsize(dest_path),
                                   sha256=digest.hexdigest())

    # --- reconciliation ---------------------------------------------------------

    def list_hypervisor_snapshots(self, context, server):
        return [{"id": sid, "kind": rec.get("kind")}
                for sid, rec in self._info(server)["snapshots"].items()]

    def reconcile(self, context, server, task_state, target):
        dom = self.host.find(server.hypervisor_ref)
        if dom is not None and dom.isActive():
            self.host.thaw(dom)  # never leave a guest frozen across a crash
        if task_state == states.SNAPSHOTTING and target is not None:
            return self._reconcile_create(dom, server, target)
        if task_state == states.DELETING_SNAPSHOT and target is not None:
            return self._reconcile_delete(dom, server, target)
        if task_state == states.SPAWNING:
            return self._reconcile_spawn(server)
        if dom is None:
            return driver.Reconciled(completed=False,
                                     reason="the domain no longer exists")
        return driver.Reconciled(completed=True,
                                 values={"status": host_mod.state_of(dom)})

    def _reconcile_create(self, dom, server, snapshot):
        directory = os.path.join(CONF.libvirt.overlay_path, server.id)
        disks = self._disks(dom) if dom is not None else []
        planned = {d.target: chain.overlay_path(directory, snapshot.id, d.target)
                   for d in disks}
        in_use = {d.target: d.source for d in disks}
        if planned and all(in_use[t] == p for t, p in planned.items()):
            frozen = {t: chain.backing_of(p) for t, p in planned.items()}
            memory_file = os.path.join(directory, f"{snapshot.id}.mem")
            info = self._info(server)
            info["snapshots"][snapshot.id] = {
                "kind": states.KIND_EXTERNAL, "disks": frozen,
                "memory_file": memory_file if os.path.exists(memory_file) else None}
            return driver.Reconciled(
                completed=True, server_driver_info=info,
                values={"kind": states.KIND_EXTERNAL,
                        "consistency": states.CONSISTENCY_CRASH,
                        "driver_info": {"kind": states.KIND_EXTERNAL,
                                        "domain_xml": dom.XMLDesc(
                                            libvirt.VIR_DOMAIN_XML_INACTIVE)}})
        for path in planned.values():
            if path not in in_use.values():
                self._unlink(path)
        self._unlink(os.path.join(directory, f"{snapshot.id}.mem"))
        self._collect_garbage(server, self._info(server), chain.active_chains(dom))
        return driver.Reconciled(completed=False,
                                 reason="the domain was not running on the "
                                        "snapshot's overlays; they were removed")

    def _reconcile_delete(self, dom, server, snapshot):
        """A merge cut short: cancel its block jobs (without pivot, so the
        chain stays as it was), then see how far it got."""
        if dom is not None:
            for disk in self._disks(dom):
                if dom.blockJobInfo(disk.target, 0):
                    dom.blockJobAbort(disk.target, 0)
        info = self._info(server)
        record = info["snapshots"].get(snapshot.id)
        chains = chain.active_chains(dom)
        progressed = record is None
        if record is not None:
            for target, path in record["disks"].items():
                if not os.path.exists(path) or path == (chains.get(target) or [None])[0]:
                    progressed = True  # removed, or pivoted into: merged
                for other_id, other in info["snapshots"].items():
                    disks = other.get("disks") or {}
                    if other_id != snapshot.id and disks.get(target) and \
                            not os.path.exists(disks[target]):
                        # The child was merged down into this layer, which now
                        # holds that snapshot's state.
                        disks[target] = path
                        progressed = True
        if progressed:
            info["snapshots"].pop(snapshot.id, None)
            self._collect_garbage(server, info, chains)
            return driver.Reconciled(completed=True, server_driver_info=info)
        self._collect_garbage(server, info, chains)
        return driver.Reconciled(completed=False,
                                 reason="its files are intact in the chain")

    def _collect_garbage(self, server, info, chains):
        directory = os.path.join(CONF.libvirt.overlay_path, server.id)
        for path in chain.unreferenced_files(directory, info, chains):
            LOG.info("Removing %s: no snapshot and no disk of server %s uses it",
                     path, server.id)
            self._unlink(path)

    def _reconcile_spawn(self, server):
        dom = self.host.find(server.id)
        if dom is not None:
            return driver.Reconciled(completed=True, values={
                "status": host_mod.state_of(dom),
                "hypervisor_ref": dom.UUIDString()})
        self.destroy_server(None, server)
        return driver.Reconciled(completed=False,
                                 reason="the new domain had not been defined")

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

What each verb does to one disk is its disk backend's (``storage.py``:
qcow2 files and Ceph RBD images, docs/rbd.md). The layer bookkeeping for delete lives in ``chain.py``;
what the verbs share with start-up reconciliation (``reconcile.py``) in
``bookkeeping.py``;
Cinder's assisted volume snapshots, an interface of their own, in
``volume.py``. Changes made to domains from outside (a guest stopped, a disk
attached) reach the manager as events (``events.py``).
"""

import functools
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
from nativesnap.virt.libvirt import reconcile
from nativesnap.virt.libvirt import storage
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
        self._clone_refusals = set()  # causes already logged

    def init_host(self, host):
        self.host.connection()
        os.makedirs(CONF.libvirt.overlay_path, mode=0o700, exist_ok=True)
        self.host.resume_pending_thaws()

    def cleanup_host(self):
        self.host.close()
        storage.RBD.close()

    # --- helpers ------------------------------------------------------------------

    def _domain(self, server):
        return self.host.lookup(server.hypervisor_ref)

    def _check_disks(self, disks):
        """Each disk's backend (storage.py); Invalid naming a disk none takes."""
        if not disks:
            raise exception.Invalid(reason="the domain has no writable disk to "
                                           "snapshot")
        return {disk.target: storage.backend_for(disk) for disk in disks}

    def get_capabilities(self, server):
        """The driver's, less memory snapshots for a server with a disk its
        backend snapshots itself (RBD): libvirt cannot save the RAM and
        switch such a disk in one call (docs/rbd.md)."""
        caps = dict(self.capabilities)
        dom = self.host.find(server.hypervisor_ref) if server.hypervisor_ref \
            else None
        if dom is not None and any(storage.RbdImage.accepts(d)
                                   for d in bookkeeping.disks(dom)):
            caps["memory"] = False
        return caps

    # --- servers ------------------------------------------------------------------

    def adopt(self, context, hypervisor_ref):
        dom = self.host.lookup(hypervisor_ref)
        for disk in bookkeeping.own_disks(dom)[0]:
            try:
                backend = storage.backend_for(disk)
            except exception.Invalid:
                continue  # refused, naming it, when a snapshot is asked for
            backend.check(disk)  # e.g. an RBD image nativesnap cannot write
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
        spawned_images = []
        if dom is not None:
            self.host.stop(dom)
            spawned_images = [d.source for d in bookkeeping.disks(dom)
                              if storage.RbdImage.accepts(d)]
            flags = (libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                     | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
                     | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
            try:
                dom.undefineFlags(flags)
            except libvirt.libvirtError as e:
                if e.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise
        # A spawned server's files are all in its own directory; its RBD
        # images are the clones nativesnap named (storage.RbdImage).
        shutil.rmtree(os.path.join(CONF.libvirt.overlay_path, server.id),
                      ignore_errors=True)
        self._remove_spawned_images(spawned_images)

    @staticmethod
    def _remove_spawned_images(names):
        """RBD images (``pool/image``) nativesnap cloned for a spawned server."""
        for name in names:
            storage.RBD.remove_spawned(name)

    # --- the storage guard ------------------------------------------------------

    def free_space(self, context, server):
        """Where the next snapshot's data goes, per disk backend
        (storage.py): the filesystem of the server's overlay directory for
        qcow2 disks, the pool for RBD disks; the tightest of them. None
        when the domain is gone or no disk's backend can tell. Cinder
        volumes are left out (their overlays are Cinder's, beside them)."""
        dom = self.host.find(server.hypervisor_ref) if server.hypervisor_ref \
            else None
        if dom is None:
            return None
        by_backend = {}
        for disk in bookkeeping.own_disks(dom)[0]:
            try:
                backend = storage.backend_for(disk)
            except exception.Invalid:
                continue  # refused, naming it, when a snapshot is asked for
            by_backend.setdefault(backend, []).append(disk)
        directory = bookkeeping.server_path(server.id)
        return driver.tightest(backend.free_space(disks, directory)
                               for backend, disks in by_backend.items())

    # --- create -----------------------------------------------------------------

    def validate_snapshot_request(self, server, kind, memory, quiesce,
                                  include_volumes):
        dom = self._domain(server)
        disks, volumes = bookkeeping.own_disks(dom)
        backends = self._check_disks(disks)
        self_taken = sorted(t for t, b in backends.items()
                            if isinstance(b, storage.RbdImage))
        if self_taken and (memory or kind == states.KIND_INTERNAL):
            raise exception.Invalid(
                reason=f"disks {', '.join(self_taken)} are Ceph RBD images: "
                       "their snapshots are RBD snapshots, so a snapshot of "
                       "this server is external and without memory "
                       "(docs/rbd.md)")
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
        began, began_at = time.monotonic(), time.time()
        dom = self._domain(server)
        kind = snapshot.kind or states.KIND_EXTERNAL
        inactive_xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        disks, volumes = bookkeeping.own_disks(dom)
        backends = self._check_disks(disks)
        progress(5)
        if kind == states.KIND_INTERNAL:
            result = self._create_internal(dom, server, snapshot, disks)
        else:
            result = self._create_external(dom, server, snapshot, disks, backends,
                                           volumes, progress)
        result.driver_info["domain_xml"] = inactive_xml
        # Where a create's time goes (bench/run's break-down): when the
        # driver began (epoch s) and how long it took. The task records 100 %
        # with the result, in the same transaction.
        result.driver_info["timing"] = {
            "driver_started_at": began_at,
            "driver_ms": round((time.monotonic() - began) * 1000, 1)}
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

    def _create_external(self, dom, server, snapshot, disks, backends, volumes,
                         progress):
        directory = bookkeeping.server_dir(server.id)
        overlays = {}  # target -> overlay libvirt switches the disk to
        memory_file = (os.path.join(directory, f"{snapshot.id}.mem")
                       if snapshot.memory else None)
        # Volumes join the same snapshotCreateXML call (one freeze) only when
        # asked for; otherwise they are named snapshot='no', since libvirt
        # would give an unnamed disk an overlay of its own choosing.
        cinder_ids = {v["volume_id"]: v["snapshot_id"]
                      for v in (snapshot.volumes or [])}
        included = volumes if snapshot.include_volumes else {}
        volume_overlays = {}
        # REUSE_EXT: the overlays are made here, before the guest is frozen
        # or paused, so that window holds only libvirt's switch to them
        # (libvirt would otherwise create them inside it, ≈ 30-50 ms).
        flags = (libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA
                 | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC
                 | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT)
        if not memory_file:
            flags |= libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
        frozen_ms = paused_ms = saved = None
        window = {}  # the switch, and the freeze around it, timed (driver_info)
        consistency = states.CONSISTENCY_CRASH
        running = dom.isActive()
        taken = []
        try:
            self._prepare_disks(disks, backends, directory, snapshot, overlays)
            # Disks their backend snapshots itself are left out of libvirt's
            # call, and taken inside the same window (take_all).
            taken[:] = [d for d in disks if d.target not in overlays]
            excluded = sorted(set(volumes) - set(included)
                              | {d.target for d in taken})
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

            take_all = functools.partial(
                self._take_all, dom, doc, flags, snapshot.id,
                [(backends[d.target], d) for d in taken],
                bool(overlays or volume_overlays), window)

            if memory_file:  # RAM saved live, pause timed: see memory.py
                saved = memory.save(dom, doc, flags, memory_file, progress)
                failpoints.hit("libvirt.create.after_snapshot_call")
                paused_ms = saved.paused_ms
                consistency = states.CONSISTENCY_MEMORY
            elif running and snapshot.quiesce != states.QUIESCE_OFF:
                consistency, frozen_ms, quiesced = self._quiesced_snapshot(
                    dom, server, snapshot, take_all)
                window.update(quiesced or {})
            else:
                take_all()
        except Exception:
            self._undo_create(dom, backends, overlays, memory_file,
                              volume_overlays)
            self._undo_taken(backends, taken, snapshot.id)
            raise
        frozen = {d.target: backends[d.target].reference(d, snapshot.id)
                  for d in disks}
        size = sum(backends[t].allocated_bytes(ref) for t, ref in frozen.items())
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
            disks=[{"target": d.target, "format": backends[d.target].format}
                   for d in disks] + [
                {"target": t, "format": "qcow2", "volume_id": v["volume_id"]}
                for t, v in sorted(record["volumes"].items())],
            volumes=[{"volume_id": v["volume_id"], "snapshot_id": v["snapshot_id"],
                      "target": t} for t, v in sorted(record["volumes"].items())],
            driver_info={"kind": states.KIND_EXTERNAL, **(
                {"memory_save": saved.record()} if saved else {}), **(
                {"window": window} if window else {})},
            server_driver_info=info)

    @staticmethod
    def _prepare_disks(disks, backends, directory, snapshot, overlays):
        """Before the window: fill ``overlays`` with each disk's overlay
        that libvirt switches to (none for a disk its backend takes)."""
        for disk in disks:
            prepared = backends[disk.target].prepare(disk, directory,
                                                     snapshot.id)
            if prepared is not None:
                overlays[disk.target] = prepared
        if snapshot.memory and len(overlays) < len(disks):
            raise exception.Invalid(
                reason="a memory snapshot needs every disk switched by "
                       "libvirt in the same call; disks "
                       f"{sorted(set(backends) - set(overlays))} are not")

    @staticmethod
    def _undo_create(dom, backends, overlays, memory_file, volume_overlays):
        """A create that failed. ATOMIC: libvirt switched to no overlay or
        undid it; remove what is left (the overlays made before included)."""
        in_use = {d.source for d in bookkeeping.disks(dom)}
        for target, prepared in overlays.items():
            backends[target].undo(prepared, in_use)
        if memory_file and memory_file not in in_use:
            bookkeeping.unlink(memory_file)
        for path in volume_overlays.values():
            if path not in in_use:  # made here, in Cinder's directory
                os.unlink(path)

    @staticmethod
    def _undo_taken(backends, taken, snapshot_id):
        """A create that failed: the snapshots backends took themselves go."""
        for disk in taken:
            try:
                backends[disk.target].undo_take(disk, snapshot_id)
            except Exception as e:
                LOG.error("Could not remove snapshot %s of disk %s after the "
                          "failed create: %s", snapshot_id, disk.target, e)

    def _take_all(self, dom, doc, flags, snapshot_id, takers, switch, window):
        """Every disk's snapshot, in the window: the disks their backend
        snapshots itself (``takers``: RBD) first, then libvirt's switch of
        the others (when ``switch``), each timed into ``window``. A backend's
        take that fails (a Ceph cluster that stopped answering, bounded by
        [rbd] connect_timeout) fails before libvirt switched any file disk,
        so the domain keeps its disks and nothing is half-made; and QEMU,
        whose own RBD client has no timeout, is not asked to switch disks
        while the cluster is silent (its block layer would wait on the RBD
        disk, guest frozen)."""
        started = time.monotonic()
        for backend, disk in takers:
            backend.take(disk, snapshot_id)
        switching = time.monotonic()
        if switch:
            self._snapshot_call(dom, doc, flags)
        window["backend_take_ms"] = round((switching - started) * 1000, 1)
        window["switch_ms"] = round((time.monotonic() - switching) * 1000, 1)

    def _snapshot_call(self, dom, doc, flags):
        try:
            dom.snapshotCreateXML(doc, flags)
        except libvirt.libvirtError as e:
            raise host_mod.error("create a snapshot", str(e)) from e
        failpoints.hit("libvirt.create.after_snapshot_call")

    def _quiesced_snapshot(self, dom, server, snapshot, take_all):
        """Freeze (bounded), ``take_all`` (every disk's snapshot), thaw:
        (consistency, frozen_ms, the window's parts or None). Falls back to
        crash-consistent when quiesce is only preferred and the agent cannot
        freeze."""
        failpoints.hit("libvirt.create.before_freeze")
        try:
            with self.host.frozen(dom, CONF.libvirt.max_freeze_seconds) as freeze:
                failpoints.hit("libvirt.create.after_freeze")
                take_all()
        except exception.QuiesceFailed as e:
            if snapshot.quiesce == states.QUIESCE_REQUIRED:
                raise
            LOG.warning("Snapshot %s of server %s: could not quiesce (%s); "
                        "taking it crash-consistent", snapshot.id, server.id, e)
            take_all()
            return states.CONSISTENCY_CRASH, None, None
        failpoints.hit("libvirt.create.after_thaw")
        if freeze.fired:
            # The watchdog thawed the guest before the snapshot was taken:
            # the snapshot is only as consistent as a power cut.
            return states.CONSISTENCY_CRASH, freeze.frozen_ms, freeze.window()
        return (states.CONSISTENCY_APPLICATION, freeze.frozen_ms,
                freeze.window())

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
        began, began_at = time.monotonic(), time.time()
        laps = driver.Laps()
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
        laps.lap("prepare")
        try:
            for target, frozen in sorted(record["disks"].items()):
                # Named by the task, so recovery can tell them from older layers.
                source = storage.backend_of(frozen).revert_source(
                    frozen, directory, server.task_id or str(uuid.uuid4()),
                    target)
                if source is not None:
                    new_active[target] = source
            failpoints.hit("libvirt.revert.overlays_created")
            laps.lap("overlays")
            progress(30)
            laps.lap("progress")
            self.host.stop(dom)
            laps.lap("stop")
            failpoints.hit("libvirt.revert.domain_stopped")
            for frozen in record["disks"].values():
                storage.backend_of(frozen).revert_stopped(frozen)
            for volume in volumes.values():
                attached_volumes.reset_overlay(volume)
            if persistent:
                self.host.connection().defineXML(
                    lxml_xml.set_disk_sources(definition, new_active))
            failpoints.hit("libvirt.revert.after_define")
            laps.lap("define")
            if power_on:
                self._start_reverted(dom, persistent, definition, new_active,
                                     record.get("memory_file"))
            laps.lap("restore" if power_on and record.get("memory_file")
                     else "start")
        except Exception as e:
            self._undo_revert(dom, persistent, definition, was_running, new_active)
            if isinstance(e, libvirt.libvirtError):
                raise host_mod.error("revert", str(e)) from e
            raise
        failpoints.hit("libvirt.revert.after_start")
        progress(90)
        laps.lap("progress")
        # The discarded active layers go, unless something still reads them.
        chain.remove_unreferenced(
            info, [p for t, p in old_active.items() if t in new_active],
            bookkeeping.unlink)
        dom = self.host.find(server.hypervisor_ref)
        status = states.SHUTOFF if dom is None else host_mod.state_of(dom)
        laps.lap("cleanup")
        # Where a revert's time goes (bench/run's break-down; docs/performance.md).
        info["last_revert"] = {
            "task_id": server.task_id, "driver_started_at": began_at,
            "driver_ms": round((time.monotonic() - began) * 1000, 1),
            "parts": laps.parts}
        return driver.RevertResult(status=status, server_driver_info=info)

    def _start_reverted(self, dom, persistent, definition, new_active,
                        memory_file):
        """Run the reverted domain: from the snapshot's RAM when it has
        one (the guest resumes where it was), else a boot."""
        conn = self.host.connection()
        if memory_file:
            saved = conn.saveImageGetXMLDesc(memory_file, 0)
            conn.restoreFlags(memory_file,
                              lxml_xml.set_disk_sources(saved, new_active),
                              libvirt.VIR_DOMAIN_SAVE_RUNNING)
        elif persistent:
            dom.create()
        else:
            conn.createXML(lxml_xml.set_disk_sources(definition, new_active), 0)

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
                         progress).run()  # the qcow2 layers
            for reference in record["disks"].values():
                storage.backend_of(reference).delete(reference, progress)
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
        sources, flattens = {}, []
        try:
            targets = sorted(record["disks"])
            for index, target in enumerate(targets):
                reference = record["disks"][target]
                def step(percent, i=index):
                    progress(int((i * 100 + percent) / len(targets)))
                sources[target], handle = storage.backend_of(
                    reference).spawn_source(reference, directory, linked, step)
                if handle:
                    flattens.append(handle)
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
            self._remove_spawned_images(
                [s.name for s in sources.values()
                 if isinstance(s, lxml_xml.NetworkSource)])
            raise
        return driver.SpawnResult(hypervisor_ref=dom.UUIDString(),
                                  status=host_mod.state_of(dom),
                                  driver_info={"snapshots": {}},
                                  flatten=" ".join(flattens) or None)

    # --- export -----------------------------------------------------------------

    def export_snapshot(self, context, server, snapshot, dest_path, disk_format,
                        progress, clone_as=None):
        record = bookkeeping.info(server)["snapshots"].get(snapshot.id)
        if record is None or record.get("kind") != states.KIND_EXTERNAL:
            self._unsupported("export_snapshot", "exporting internal snapshots")
        # The image is the first disk of the domain (its boot disk).
        order = [d.target for d in lxml_xml.disks(snapshot.driver_info["domain_xml"])
                 if d.target in record["disks"]]
        reference = record["disks"][order[0]]
        backend = storage.backend_of(reference)
        fallback = None
        if backend is storage.RBD:
            if disk_format != "raw":
                fallback = (f"disk_format {disk_format} was asked: a clone is "
                            "raw (ask raw for an export by clone)")
            elif not clone_as:
                fallback = ("the image store ([image] backend) cannot record "
                            "a clone's rbd:// location")
            else:
                try:
                    location, handle, size = backend.export_clone(reference,
                                                                  clone_as)
                    return driver.ExportResult(size_bytes=size,
                                               location=location, flatten=handle)
                except storage.CloneRefused as e:
                    fallback = e.reason
                    self._log_clone_refusal(e)
        sha256 = backend.export(reference, dest_path, progress, disk_format)
        return driver.ExportResult(size_bytes=os.path.getsize(dest_path),
                                   sha256=sha256, fallback_reason=fallback)

    def _log_clone_refusal(self, refusal):
        """Once per cause, not per export: the export's own record says why."""
        if refusal.cause not in self._clone_refusals:
            self._clone_refusals.add(refusal.cause)
            LOG.warning("Exports of RBD snapshots are full copies, not "
                        "clones: %s (logged once; each export records it as "
                        "fallback_reason)", refusal.reason)

    def flatten(self, context, handle, progress):
        for one in handle.split():
            storage.RBD.flatten(one, progress)

    def remove_clone(self, context, image_id):
        return storage.RBD.remove_clone(image_id)

    # --- optional interfaces -----------------------------------------------------

    def interfaces(self):
        return {driver.VOLUME_SNAPSHOT: self.assisted}

    # --- reconciliation (see reconcile.py) ----------------------------------------

    def reconcile(self, context, server, task_state, target):
        return self.reconciler.reconcile(server, task_state, target)

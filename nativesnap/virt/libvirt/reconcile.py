"""Start-up reconciliation: a task that a restart of the service cut short is
brought to an end from what libvirt and the files show (docs/libvirt.md,
"Start-up reconciliation").

It lives apart from the verbs (``driver.py``) because it reads them the other
way round: a verb changes the domain and the files, then reports; this looks
at the state a crash at any step of a verb left and decides whether the task
rolls forward (completed) or back (what it half-made removed). Each decision
rests on how the verb names its files (by snapshot or task id: see
``chain.overlay_path``) and on the helpers both share (``bookkeeping.py``).
Every path is proved by ``kill -9`` at a failpoint (docs/reliability.md).
"""

import os

from oslo_log import log as logging

from nativesnap.common import states
from nativesnap.conf import CONF
from nativesnap.virt import driver
from nativesnap.virt.libvirt import attached_volumes
from nativesnap.virt.libvirt import bookkeeping
from nativesnap.virt.libvirt import chain
from nativesnap.virt.libvirt import host as host_mod
from nativesnap.virt.libvirt import memory
from nativesnap.virt.libvirt import storage
from nativesnap.virt.libvirt import xml as lxml_xml

try:
    import libvirt
except ImportError:
    libvirt = None

LOG = logging.getLogger(__name__)


class Reconciler:
    """Reconciles the servers of one Host; ``destroy_server`` is the driver's
    verb (an interrupted spawn whose domain was never defined is destroyed)."""

    def __init__(self, host, destroy_server):
        self.host = host
        self.destroy_server = destroy_server

    def reconcile(self, server, task_state, target):
        """A driver.Reconciled for the interrupted ``task_state``."""
        dom = self.host.find(server.hypervisor_ref)
        if dom is not None and dom.isActive():
            self.host.thaw(dom)  # never leave a guest frozen across a crash
        if task_state == states.SNAPSHOTTING and target is not None:
            return self._create(dom, server, target)
        if task_state == states.DELETING_SNAPSHOT and target is not None:
            return self._delete(dom, server, target)
        if task_state == states.SPAWNING:
            return self._spawn(server)
        if task_state == states.REVERTING and target is not None and dom:
            return self._revert(dom, server, target)
        if dom is None:
            return driver.Reconciled(completed=False,
                                     reason="the domain no longer exists")
        return driver.Reconciled(completed=True,
                                 values={"status": host_mod.state_of(dom)})

    def _create(self, dom, server, snapshot):
        if dom is not None and dom.isActive():
            memory.abort_unfinished(dom)  # a save libvirtd still runs
        directory = os.path.join(CONF.libvirt.overlay_path, server.id)
        disks, volumes = bookkeeping.own_disks(dom) if dom is not None else ([], {})
        # RBD disks: their snapshot was taken in the window, or not at all.
        rbd_disks = [d for d in disks if storage.RbdImage.accepts(d)]
        taken = all(storage.RBD.has_snapshot(d, snapshot.id) for d in rbd_disks)
        planned = {d.target: chain.overlay_path(directory, snapshot.id, d.target)
                   for d in disks if d not in rbd_disks}
        in_use = ({d.target: d.source for d in bookkeeping.disks(dom)}
                  if dom else {})
        cinder_ids = {v["volume_id"]: v["snapshot_id"]
                      for v in (snapshot.volumes or [])}
        volume_planned = {
            t: os.path.join(os.path.dirname(disk.source),
                            attached_volumes.overlay_name(vid, cinder_ids[vid]))
            for t, (disk, vid) in volumes.items()
            if snapshot.include_volumes and vid in cinder_ids}
        if (planned or rbd_disks) and taken and all(
                in_use[t] == p for t, p in planned.items()):
            frozen = {t: chain.backing_of(p) for t, p in planned.items()}
            frozen.update({d.target: storage.RBD.reference(d, snapshot.id)
                           for d in rbd_disks})
            memory_file = os.path.join(directory, f"{snapshot.id}.mem")
            info = bookkeeping.info(server)
            switched = {t: (volumes[t][0], volumes[t][1])
                        for t, p in volume_planned.items() if in_use.get(t) == p}
            for target, (disk, _vid) in switched.items():
                # The frozen file is the overlay's backing file (relative).
                disk.source = os.path.join(os.path.dirname(disk.source),
                                           chain.backing_of(in_use[target]))
            info["snapshots"][snapshot.id] = {
                "kind": states.KIND_EXTERNAL, "disks": frozen,
                "memory_file": memory_file if os.path.exists(memory_file) else None,
                "volumes": attached_volumes.record_volumes(
                    switched, volume_planned, cinder_ids)}
            return driver.Reconciled(
                completed=True, server_driver_info=info,
                values={"kind": states.KIND_EXTERNAL,
                        "consistency": states.CONSISTENCY_CRASH,
                        "driver_info": {"kind": states.KIND_EXTERNAL,
                                        "domain_xml": dom.XMLDesc(
                                            libvirt.VIR_DOMAIN_XML_INACTIVE)}})
        for path in planned.values():
            if path not in in_use.values():
                bookkeeping.unlink(path)
        for disk in rbd_disks:
            storage.RBD.undo_take(disk, snapshot.id)
        for path in volume_planned.values():
            if path not in in_use.values() and os.path.exists(path):
                os.unlink(path)  # made by nativesnap in Cinder's directory
        bookkeeping.unlink(os.path.join(directory, f"{snapshot.id}.mem"))
        self._collect_garbage(server, bookkeeping.info(server),
                             chain.active_chains(dom))
        return driver.Reconciled(completed=False,
                                 reason="the domain was not running on the "
                                        "snapshot's overlays; they were removed")

    def _delete(self, dom, server, snapshot):
        """A merge cut short: cancel its block jobs (without pivot, so the
        chain stays as it was), then see how far it got."""
        if dom is not None:
            for disk in bookkeeping.disks(dom):
                if dom.blockJobInfo(disk.target, 0):
                    dom.blockJobAbort(disk.target, 0)
        info = bookkeeping.info(server)
        record = info["snapshots"].get(snapshot.id)
        chains = chain.active_chains(dom)
        progressed = record is None
        if record is not None:
            for target, path in chain.file_references(record).items():
                active = (chains.get(target) or [None])[0]
                if not os.path.exists(path) or path == active:
                    progressed = True  # removed, or pivoted into: merged
                for other_id, other in info["snapshots"].items():
                    disks = chain.file_references(other)
                    if other_id != snapshot.id and disks.get(target) and \
                            not os.path.exists(disks[target]):
                        # The child was merged down into this layer, which now
                        # holds that snapshot's state.
                        other["disks"][target] = path
                        progressed = True
        if progressed:
            info["snapshots"].pop(snapshot.id, None)
            self._collect_garbage(server, info, chains)
            return driver.Reconciled(completed=True, server_driver_info=info)
        self._collect_garbage(server, info, chains)
        return driver.Reconciled(completed=False,
                                 reason="its files are intact in the chain")

    @staticmethod
    def _collect_garbage(server, info, chains):
        """Remove the files of the server's directory that no snapshot in
        ``info`` and no disk chain in ``chains`` uses."""
        directory = os.path.join(CONF.libvirt.overlay_path, server.id)
        for path in chain.unreferenced_files(directory, info, chains):
            LOG.info("Removing %s: no snapshot and no disk of server %s uses it",
                     path, server.id)
            bookkeeping.unlink(path)

    def _revert(self, dom, server, snapshot):
        """A revert cut short. Its overlays are named by the task's id: when
        the domain's definition names them, the revert got past its define
        (rolled forward), otherwise they are removed (rolled back). Either
        way a domain that ran before the revert is running again afterwards
        (``server.status`` still holds its status from before the task)."""
        record = bookkeeping.info(server)["snapshots"].get(snapshot.id) or {}
        if record.get("kind") != states.KIND_EXTERNAL:
            # One libvirt call (revertToSnapshot): nothing half-made to find.
            return driver.Reconciled(completed=True,
                                     values={"status": host_mod.state_of(dom)})
        directory = os.path.join(CONF.libvirt.overlay_path, server.id)
        planned = {t: chain.overlay_path(directory, server.task_id, t)
                   for t in chain.file_references(record)}
        defined = {d.target: d.source for d in lxml_xml.disks(
            dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))}
        reverted = all(defined.get(t) == p for t, p in planned.items())
        if not dom.isActive() and server.status in (states.ACTIVE,
                                                    states.PAUSED):
            self._start_again(dom, record.get("memory_file") if reverted
                              else None, planned)
        if not reverted:
            for path in planned.values():
                if path not in defined.values():
                    bookkeeping.unlink(path)
        self._collect_garbage(server, bookkeeping.info(server),
                             chain.active_chains(dom))
        status = host_mod.state_of(dom)
        if reverted:
            return driver.Reconciled(completed=True, values={"status": status})
        return driver.Reconciled(
            completed=False, values={"status": status},
            reason="the domain was not yet defined on the snapshot's overlays; "
                   "they were removed and it kept its disks")

    def _start_again(self, dom, memory_file, planned):
        """Start the domain an interrupted revert had stopped: from the
        snapshot's memory file when the revert is rolled forward to one (as
        the revert would have: RAM and all), else a boot."""
        try:
            if memory_file:
                conn = self.host.connection()
                saved = conn.saveImageGetXMLDesc(memory_file, 0)
                conn.restoreFlags(memory_file,
                                  lxml_xml.set_disk_sources(saved, planned),
                                  libvirt.VIR_DOMAIN_SAVE_RUNNING)
            else:
                dom.create()
        except libvirt.libvirtError as e:
            LOG.error("Could not start domain %s again after its "
                      "interrupted revert: %s", dom.UUIDString(), e)

    def _spawn(self, server):
        dom = self.host.find(server.id)
        if dom is not None:
            return driver.Reconciled(completed=True, values={
                "status": host_mod.state_of(dom),
                "hypervisor_ref": dom.UUIDString()})
        self.destroy_server(None, server)
        return driver.Reconciled(completed=False,
                                 reason="the new domain had not been defined")

"""The VMware vSphere driver (DESIGN §4), through pyvmomi (docs/vmware.md).

vSphere has snapshots of its own, with their tree: nativesnap's verbs are
vCenter's tasks — ``CreateSnapshot_Task``, ``RevertToSnapshot_Task``,
``RemoveSnapshot_Task(removeChildren=False, consolidate=True)`` (and
``ConsolidateVMDisks_Task`` when vCenter still asks for it), ``CloneVM_Task``
from a snapshot (``createNewChildDiskBacking`` for a linked clone) — each
task followed to its end, bounded by ``[vmware] task_timeout``, its progress
reported. vSphere records no freeze or stun time, so ``frozen_ms`` and
``paused_ms`` stay null; the task's wall time is kept in the snapshot's
``driver_info``.

What the driver needs to find things again is in vCenter itself: the VM by
its instance UUID (a spawned VM gets the new server's id as its instance
UUID), a snapshot by nativesnap's id in its name (``inventory.py``). So an
interrupted task is reconciled from vCenter's state alone, and a snapshot
removed in vCenter is noticed (``list_hypervisor_snapshots``).
"""

import time

from oslo_log import log as logging
from pyVmomi import vim

from nativesnap.common import states
from nativesnap.conf import CONF
from nativesnap import exception
from nativesnap.virt import driver
from nativesnap.virt.vmware import faults
from nativesnap.virt.vmware import inventory
from nativesnap.virt.vmware import session as session_mod

LOG = logging.getLogger(__name__)

TREE = ["snapshot.rootSnapshotList", "snapshot.currentSnapshot"]
_POWER = {"poweredOn": states.ACTIVE, "poweredOff": states.SHUTOFF,
          "suspended": states.PAUSED}
TOOLS_RUNNING = "guestToolsRunning"
DATASTORE_SPACE = ["name", "summary.freeSpace", "summary.capacity",
                   "summary.accessible"]


class VMwareDriver(driver.ComputeDriver):
    name = "vmware"
    host_free = True
    capabilities = {"memory": True, "quiesce": True, "revert_any": True,
                    "tree": True, "linked_spawn": True, "export": False}

    def __init__(self):
        self.session = session_mod.Session()
        self.finder = inventory.Finder(self.session)

    def init_host(self, host):
        self.session.connect()

    def cleanup_host(self):
        self.session.logout()

    # --- reading a VM ------------------------------------------------------------

    def _vm(self, server, paths=inventory.VM_PROPS):
        """(the server's VM, its properties ``paths``) in one read: by its
        managed object id, else (gone under that id) by instance UUID."""
        moid = (server.driver_info or {}).get("moref")
        if moid:
            vm = self.session.managed(vim.VirtualMachine, moid)
            try:
                found = self.session.retrieve([vm], {vim.VirtualMachine: paths})
                if vm in found:
                    return vm, found[vm]
            except faults.ObjectGone:
                pass  # gone under that id: look it up by UUID
        vm = self.finder.by_instance_uuid(server.hypervisor_ref.lower())
        if vm is None:
            raise exception.HypervisorObjectNotFound(
                driver=self.name, what="VM (by instance UUID)",
                ref=server.hypervisor_ref)
        return vm, self._props(vm, paths)

    def _props(self, vm, paths=inventory.VM_PROPS):
        return self.session.retrieve([vm], {vim.VirtualMachine: paths}).get(vm, {})

    @staticmethod
    def _status(props):
        return _POWER.get(str(props.get("runtime.powerState")), states.SERVER_ERROR)

    @staticmethod
    def _tree(props):
        """The snapshot tree in properties read with TREE."""
        return inventory.walk(props.get("snapshot.rootSnapshotList"),
                              props.get("snapshot.currentSnapshot"))

    def _vsphere_snapshot(self, props, snapshot):
        """The vSphere snapshot of nativesnap's ``snapshot``, or None."""
        for node in self._tree(props):
            if node.snapshot_id == snapshot.id:
                return node.moref
        return None

    # --- servers --------------------------------------------------------------------

    def adopt(self, context, hypervisor_ref):
        datacenter = CONF.vmware.datacenter
        ref = hypervisor_ref
        if datacenter and "/" in ref and not ref.startswith(f"{datacenter}/"):
            ref = f"{datacenter}/vm/{ref}"
        vm = self.finder.vm(ref)
        props = self._props(vm)
        return driver.AdoptedObject(
            hypervisor_ref=props["config.instanceUuid"], name=props["name"],
            status=self._status(props), driver_info={"moref": vm._moId})

    def get_server_state(self, context, server):
        try:
            return self._status(self._vm(server, ["runtime.powerState"])[1])
        except exception.HypervisorObjectNotFound:
            return states.SERVER_ERROR

    def get_capabilities(self, server):
        caps = dict(self.capabilities)
        if server is None or not server.obj_attr_is_set("hypervisor_ref"):
            return caps
        try:
            props = self._vm(server)[1]
        except exception.NativesnapException:
            return caps
        running = props.get("runtime.powerState") == "poweredOn"
        caps["memory"] = running
        caps["quiesce"] = running and (props.get("guest.toolsRunningStatus")
                                       == TOOLS_RUNNING)
        return caps

    def forget_server(self, context, server):
        """An adopted VM is only forgotten: vCenter keeps it as it is."""

    def destroy_server(self, context, server):
        try:
            vm, props = self._vm(server, ["runtime.powerState"])
        except exception.HypervisorObjectNotFound:
            return  # never made, or gone already
        if props.get("runtime.powerState") != "poweredOff":
            self._task(vm.PowerOffVM_Task, "power the VM off")
        self._task(vm.Destroy_Task, "destroy the VM")

    def _task(self, method, verb, *args, progress=None, **kwargs):
        """A vSphere task started and followed to its end, all within
        ``[vmware] task_timeout`` (``Session.run_task``)."""
        return self.session.run_task(method, *args, verb=verb,
                                     progress=progress, **kwargs)

    # --- snapshots --------------------------------------------------------------------

    def validate_snapshot_request(self, server, kind, memory, quiesce,
                                  include_volumes):
        if include_volumes:
            self._unsupported("create_snapshot", "include_volumes")
        if kind == states.KIND_INTERNAL:
            raise exception.Invalid(
                reason="vSphere snapshots are delta disks beside the VM's "
                       "disks: kind 'external' (or none)")
        props = self._vm(server)[1]
        running = props.get("runtime.powerState") == "poweredOn"
        if memory and not running:
            raise exception.Invalid(reason="the VM is not powered on, so it has "
                                           "no memory to save; use memory: false")
        if (quiesce == states.QUIESCE_REQUIRED and not memory
                and props.get("guest.toolsRunningStatus") != TOOLS_RUNNING):
            raise exception.QuiesceFailed(
                server_id=server.id,
                reason="VMware Tools do not run in the guest "
                       f"({props.get('guest.toolsRunningStatus')}); start them "
                       "or use quiesce 'preferred' or 'off'")

    def create_snapshot(self, context, server, snapshot, progress):
        vm, props = self._vm(server)
        running = props.get("runtime.powerState") == "poweredOn"
        tools = props.get("guest.toolsRunningStatus") == TOOLS_RUNNING
        memory = bool(snapshot.memory) and running
        quiesce = (snapshot.quiesce != states.QUIESCE_OFF and not memory
                   and running and tools)
        if (snapshot.quiesce == states.QUIESCE_REQUIRED and not memory
                and not quiesce):
            raise exception.QuiesceFailed(server_id=server.id,
                                          reason="VMware Tools do not run")
        started = time.monotonic()
        moref = self._task(vm.CreateSnapshot_Task, "create the snapshot",
                           name=inventory.snapshot_name(snapshot),
                           description=snapshot.description or "",
                           memory=memory, quiesce=quiesce, progress=progress)
        consistency = (states.CONSISTENCY_MEMORY if memory else
                       states.CONSISTENCY_APPLICATION if quiesce else
                       states.CONSISTENCY_CRASH)
        return driver.SnapshotResult(
            kind=states.KIND_EXTERNAL, consistency=consistency, memory=memory,
            driver_info={"moref": moref._moId, "task_ms": int(
                (time.monotonic() - started) * 1000)})

    def delete_snapshot(self, context, server, snapshot, progress):
        vm, props = self._vm(server, TREE)
        moref = self._vsphere_snapshot(props, snapshot)
        if moref is None:
            LOG.info("Snapshot %s is not in vCenter's tree any more; nothing "
                     "to remove", snapshot.id)
            return None
        self._task(moref.RemoveSnapshot_Task, "remove the snapshot",
                   removeChildren=False, consolidate=True, progress=progress)
        if self._props(vm, ["runtime.consolidationNeeded"]).get(
                "runtime.consolidationNeeded"):
            self._task(vm.ConsolidateVMDisks_Task, "consolidate the disks",
                       progress=progress)
        return None

    def revert_to_snapshot(self, context, server, snapshot, power_on, progress):
        vm, props = self._vm(server, TREE)
        moref = self._vsphere_snapshot(props, snapshot)
        if moref is None:
            raise exception.DriverError(
                driver=self.name, verb="revert to the snapshot",
                reason=f"snapshot {snapshot.id} is not in vCenter's tree any "
                       "more (removed outside nativesnap?)")
        self._task(moref.RevertToSnapshot_Task, "revert to the snapshot",
                   suppressPowerOn=not power_on, progress=progress)
        # A snapshot without memory reverts the VM to how it was then; the
        # power state asked for is then set.
        state = self._props(vm, ["runtime.powerState"]).get("runtime.powerState")
        if power_on and state != "poweredOn":
            self._task(vm.PowerOnVM_Task, "power the VM on")
        elif not power_on and state == "poweredOn":
            self._task(vm.PowerOffVM_Task, "power the VM off")
        return driver.RevertResult(status=self.get_server_state(context, server))

    def list_hypervisor_snapshots(self, context, server):
        return [{"id": node.snapshot_id, "name": node.name,
                 "parent_id": node.parent_id, "current": node.current}
                for node in self._tree(self._vm(server, TREE)[1])]

    # --- the storage guard ------------------------------------------------------

    def free_space(self, context, server):
        """The tightest of the VM's datastores (``summary.freeSpace`` of
        ``summary.capacity``): a snapshot's delta disks go beside each of
        its disks, its memory file beside its configuration (the VM's
        ``datastore`` holds them all). None when no datastore has figures
        (one that is not accessible is left out) or the VM is gone."""
        try:
            _vm, props = self._vm(server, ["datastore"])
        except exception.HypervisorObjectNotFound:
            return None  # its snapshot fails, saying so
        stores = props.get("datastore") or []
        if not stores:
            return None
        found = self.session.retrieve(
            stores, {vim.Datastore: DATASTORE_SPACE},
            verb="read the free space of the VM's datastores")
        return driver.tightest(self._datastore_space(p) for p in found.values())

    @staticmethod
    def _datastore_space(props):
        free = props.get("summary.freeSpace")
        total = props.get("summary.capacity")
        if not total or free is None or props.get("summary.accessible") is False:
            return None
        return driver.FreeSpace(free_bytes=free, total_bytes=total,
                                where=f"datastore {props.get('name')}")

    # --- spawn and export -----------------------------------------------------------

    def _placement(self, props, linked):
        conf = CONF.vmware
        index = self.session.content.searchIndex
        folder = (self.session.call(index.FindByInventoryPath, conf.folder,
                                    verb="find the folder")
                  if conf.folder else props["parent"])
        pool = (self.session.call(index.FindByInventoryPath, conf.resource_pool,
                                  verb="find the resource pool")
                if conf.resource_pool else props["resourcePool"])
        location = vim.vm.RelocateSpec(pool=pool)
        if linked:
            location.diskMoveType = "createNewChildDiskBacking"
        else:
            location.diskMoveType = "moveAllDiskBackingsAndDisallowSharing"
            if conf.datastore:
                names = self.session.retrieve(props.get("datastore") or [],
                                              {vim.Datastore: ["name"]})
                found = [d for d, p in names.items()
                         if p.get("name") == conf.datastore]
                if not found:
                    raise exception.Invalid(
                        reason=f"[vmware] datastore {conf.datastore!r} is not "
                               "one of the source VM's datastores")
                location.datastore = found[0]
        return folder, location

    def spawn_from_snapshot(self, context, source_server, snapshot, new_server,
                            linked, power_on, progress):
        vm, props = self._vm(source_server,
                             TREE + ["parent", "resourcePool", "datastore"])
        moref = self._vsphere_snapshot(props, snapshot)
        if moref is None:
            raise exception.DriverError(
                driver=self.name, verb="spawn from the snapshot",
                reason=f"snapshot {snapshot.id} is not in vCenter's tree")
        folder, location = self._placement(props, linked)
        spec = vim.vm.CloneSpec(
            location=location, powerOn=power_on, template=False,
            snapshot=moref,
            # Its instance UUID is the server's id: found again after a crash.
            config=vim.vm.ConfigSpec(instanceUuid=new_server.id))
        new_vm = self._task(vm.CloneVM_Task, "clone the VM", folder=folder,
                            name=new_server.name, spec=spec, progress=progress)
        props = self._props(new_vm)
        if power_on and props.get("runtime.powerState") != "poweredOn":
            # Some vCenters (the simulator) leave a clone off: as asked.
            self._task(new_vm.PowerOnVM_Task, "power the clone on")
            props = self._props(new_vm)
        return driver.SpawnResult(
            hypervisor_ref=props["config.instanceUuid"],
            status=self._status(props), driver_info={"moref": new_vm._moId})

    # --- reconciliation -----------------------------------------------------------

    def reconcile(self, context, server, task_state, target):
        try:
            if task_state == states.SPAWNING:
                return self._reconcile_spawn(server)
            _vm, props = self._vm(server, TREE + ["runtime.powerState"])
        except exception.HypervisorObjectNotFound:
            return driver.Reconciled(completed=False,
                                     reason="the VM is not in vCenter")
        status = self._status(props)
        found = (self._vsphere_snapshot(props, target)
                 if target is not None else None)
        if task_state == states.SNAPSHOTTING and target is not None:
            if found is None:
                return driver.Reconciled(
                    completed=False, reason="vCenter holds no snapshot named "
                                            f"with its id {target.id}")
            return driver.Reconciled(completed=True, values={
                "kind": states.KIND_EXTERNAL,
                "consistency": states.CONSISTENCY_CRASH,
                "memory": False, "driver_info": {"moref": found._moId}})
        if task_state == states.DELETING_SNAPSHOT and target is not None:
            if found is None:
                return driver.Reconciled(completed=True)
            return driver.Reconciled(completed=False,
                                     reason="vCenter still holds the snapshot")
        if task_state == states.REVERTING and target is not None:
            current = any(n.current and n.snapshot_id == target.id
                          for n in self._tree(props))
            return driver.Reconciled(
                completed=current, values={"status": status},
                reason="" if current else
                "vCenter's current snapshot is not the one reverted to")
        return driver.Reconciled(completed=True, values={"status": status})

    def _reconcile_spawn(self, server):
        vm = self.finder.by_instance_uuid(server.id)
        if vm is None:
            return driver.Reconciled(completed=False,
                                     reason="the clone was not made")
        props = self._props(vm)
        return driver.Reconciled(completed=True, values={
            "hypervisor_ref": props["config.instanceUuid"],
            "status": self._status(props),
            "driver_info": {"moref": vm._moId}})

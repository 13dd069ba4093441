"""Finding things in vCenter's inventory: a VM by any reference an operator
has for it, and a VM's snapshot tree with nativesnap's ids read from the
snapshots' names.

A server is keyed by its VM's instance UUID (vCenter's own unique id of a
VM); the VM's managed object id is kept beside it as the fast way in. A
vSphere snapshot's name is the user's label followed by nativesnap's
snapshot id in brackets, ``<name> [<id>]``, so the two are matched however
the tree is reached, after a restart too (docs/vmware.md).
"""

import dataclasses
import re

from pyVmomi import vim

from nativesnap import exception
from nativesnap.virt.vmware import faults

DRIVER = "vmware"
_MOID = re.compile(r"^vm-\d+$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_SUFFIX = re.compile(r" \[([0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12})\]$")

VM_PROPS = ["name", "config.instanceUuid", "config.uuid", "runtime.powerState",
            "guest.toolsRunningStatus"]


def snapshot_name(snapshot):
    """The vSphere name of nativesnap's ``snapshot``: its label and its id."""
    return f"{snapshot.name} [{snapshot.id}]"


def snapshot_id_of(name):
    """nativesnap's snapshot id in a vSphere snapshot name, or None."""
    found = _SUFFIX.search(name or "")
    return found.group(1) if found else None


@dataclasses.dataclass
class TreeNode:
    moref: object  # vim.vm.Snapshot
    name: str
    snapshot_id: str | None  # nativesnap's, from the name
    parent_id: str | None  # nativesnap's id of the parent snapshot
    current: bool


def walk(root_list, current):
    """The nodes of a VM's snapshot tree (``snapshot.rootSnapshotList``),
    parents first; ``current`` is ``snapshot.currentSnapshot``."""
    found = []
    todo = [(node, None) for node in root_list or []]
    while todo:
        node, parent = todo.pop(0)
        sid = snapshot_id_of(node.name)
        found.append(TreeNode(moref=node.snapshot, name=node.name,
                              snapshot_id=sid, parent_id=parent,
                              current=current is not None
                              and node.snapshot == current))
        todo.extend((child, sid) for child in node.childSnapshotList or [])
    return found


class Finder:
    """Looks VMs up through one Session."""

    def __init__(self, session):
        self.session = session

    def _datacenter(self, name=None):
        content = self.session.content
        datacenters = [e for e in self.session.call(
            lambda: content.rootFolder.childEntity, verb="list datacenters")
            if isinstance(e, vim.Datacenter)]
        for datacenter in datacenters:
            if name is None or datacenter.name == name:
                return datacenter
        raise exception.DriverError(
            driver=DRIVER, verb="find the datacenter",
            reason=f"vCenter has no datacenter named {name!r} ([vmware] "
                   "datacenter)")

    def datacenter(self, name=None):
        return self._datacenter(name)

    def vm(self, ref, datacenter=None):
        """The VM ``ref`` names: an instance UUID, a BIOS UUID, a managed
        object id (``vm-123``) or an inventory path (``DC0/vm/name``);
        HypervisorObjectNotFound (400) naming what was looked for."""
        index = self.session.content.searchIndex
        tried = []
        if _UUID.match(ref):
            # vCenter's UUIDs are lower case; its search is case-sensitive.
            for instance in (True, False):
                found = self.session.call(
                    index.FindByUuid, None, ref.lower(), vmSearch=True,
                    instanceUuid=instance, verb="find a VM by UUID")
                if found is not None:
                    return found
            tried.append("an instance or BIOS UUID")
        if _MOID.match(ref):
            vm = self.session.managed(vim.VirtualMachine, ref)
            try:
                if self.session.retrieve([vm], {vim.VirtualMachine: ["name"]}):
                    return vm
            except faults.ObjectGone:
                pass  # ManagedObjectNotFound: no such VM
            tried.append("a managed object id")
        if "/" in ref:
            found = self.session.call(index.FindByInventoryPath, ref,
                                      verb="find a VM by inventory path")
            if isinstance(found, vim.VirtualMachine):
                return found
            tried.append("an inventory path")
        raise exception.HypervisorObjectNotFound(
            driver=DRIVER,
            what=f"VM (looked for {' or '.join(tried) or 'an instance or BIOS '}"
                 f"{'' if tried else 'UUID, a vm-N id or an inventory path'})",
            ref=ref)

    def by_instance_uuid(self, uuid):
        """The VM of instance UUID ``uuid``, or None."""
        return self.session.call(
            self.session.content.searchIndex.FindByUuid, None, uuid,
            vmSearch=True, instanceUuid=True, verb="find a VM by UUID")

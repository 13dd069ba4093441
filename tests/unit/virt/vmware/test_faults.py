"""vSphere faults become nativesnap's errors with the right code and
vCenter's own words (docs/vmware.md, the fault table)."""

import pytest
from pyVmomi import vim
from pyVmomi import vmodl

from nativesnap import exception
from nativesnap.virt.vmware import faults


@pytest.mark.parametrize("fault,cls,code", [
    (vim.fault.TaskInProgress(msg="busy"), exception.Conflict, 409),
    (vim.fault.InvalidPowerState(msg="off"), exception.Conflict, 409),
    (vim.fault.InvalidState(msg="odd"), exception.Conflict, 409),
    (vim.fault.ApplicationQuiesceFault(msg="no"), exception.QuiesceFailed, 409),
    (vim.fault.NoPermission(msg="denied", privilegeId="VirtualMachine.State"),
     exception.HypervisorForbidden, 403),
    (vim.fault.NoDiskSpace(msg="full", datastore="ds1"),
     exception.InsufficientStorage, 507),
    (vmodl.fault.MethodNotFound(msg="ExportSnapshot"),
     exception.UnsupportedOperation, 400),
    (vim.fault.SnapshotFault(msg="too many"), exception.DriverError, 500),
    (vim.fault.FileFault(msg="locked", file="[ds] vm/vm.vmdk"),
     exception.DriverError, 500),
])
def test_each_fault_maps_to_its_error_with_vcenter_s_message(fault, cls, code):
    error = faults.translate(fault, "create the snapshot", server_id="s-1")
    assert isinstance(error, cls) and error.code == code
    assert fault.msg in error.message


def test_a_fault_is_described_by_its_type_and_every_message():
    fault = vim.fault.FileFault(msg="locked", faultMessage=[
        vmodl.LocalizableMessage(key="k", message="held by another host")])
    assert faults.describe(fault) == "FileFault: locked; held by another host"
    assert faults.describe(ConnectionRefusedError("refused")) == (
        "ConnectionRefusedError: refused")

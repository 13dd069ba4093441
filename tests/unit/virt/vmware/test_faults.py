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


@pytest.mark.parametrize("error,words", [
    (TimeoutError("timed out"),
     "vCenter did not answer within 2 s ([vmware] task_timeout)"),
    (ConnectionRefusedError(111, "Connection refused"),
     "vCenter refused the connection (ConnectionRefusedError: [Errno 111] "
     "Connection refused)"),
    (ConnectionResetError(104, "reset"),
     "vCenter closed the connection without answering"),
    (OSError(113, "No route to host"), "the connection to vCenter failed")])
def test_a_transport_error_is_told_by_what_vcenter_did(error, words):
    assert words in faults.transport_cause(error, 2, "[vmware] task_timeout")


def test_a_vanished_object_is_told_apart_from_other_faults():
    gone = faults.translate(vmodl.fault.ManagedObjectNotFound(msg="vm-9"), "read")
    assert isinstance(gone, faults.ObjectGone) and gone.code == 500
    assert not isinstance(faults.translate(vim.fault.SnapshotFault(msg="x"),
                                           "read"), faults.ObjectGone)

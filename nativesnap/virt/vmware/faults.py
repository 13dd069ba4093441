"""vSphere faults as nativesnap's errors: each with the HTTP code the API (or
a task's fault) carries and vCenter's own message, so an operator reads what
vCenter said and what to do (docs/vmware.md has the table)."""

import http.client

from pyVmomi import vim
from pyVmomi import vmodl

from nativesnap import exception

DRIVER = "vmware"


class NoAnswer(exception.DriverError):
    """vCenter did not answer a call within its bound (docs/vmware.md)."""


class ObjectGone(exception.DriverError):
    """vCenter has no object of that managed object id (any more)."""


def describe(error):
    """vCenter's own words for a fault (or any error), one line."""
    if isinstance(error, vmodl.MethodFault):
        text = error.msg or ""
        messages = [m.message for m in (error.faultMessage or []) if m.message]
        detail = "; ".join(m for m in [text] + messages if m)
        return f"{type(error).__name__.split('.')[-1]}" + (
            f": {detail}" if detail else "")
    return f"{type(error).__name__}: {error}"


def transport_cause(error, timeout, option):
    """What a transport error of a call bounded by ``timeout`` s (set by
    ``option``) says of vCenter, in a few words an operator can act on."""
    if isinstance(error, TimeoutError):
        return f"vCenter did not answer within {timeout:g} s ({option})"
    if isinstance(error, ConnectionRefusedError):
        return f"vCenter refused the connection ({describe(error)})"
    if isinstance(error, (http.client.RemoteDisconnected, ConnectionResetError,
                          BrokenPipeError, ConnectionAbortedError)):
        return ("vCenter closed the connection without answering "
                f"({describe(error)})")
    return f"the connection to vCenter failed ({describe(error)})"


def translate(fault, verb, server_id=None):
    """The NativesnapException for vSphere ``fault`` met while doing ``verb``
    (for ``server_id``, where known)."""
    reason = describe(fault)
    if isinstance(fault, vim.fault.ApplicationQuiesceFault):
        return exception.QuiesceFailed(server_id=server_id or "(unknown)",
                                       reason=f"VMware Tools: {reason}")
    if isinstance(fault, (vim.fault.TaskInProgress, vim.fault.InvalidPowerState,
                          vim.fault.InvalidState)):
        return exception.Conflict(f"vCenter cannot {verb} now: {reason}.")
    if isinstance(fault, vim.fault.NoPermission):
        return exception.HypervisorForbidden(driver=DRIVER,
                                             reason=f"{verb}: {reason}")
    if isinstance(fault, vim.fault.NoDiskSpace):
        return exception.InsufficientStorage(verb=verb, reason=reason)
    if isinstance(fault, vmodl.fault.MethodNotFound):
        return exception.UnsupportedOperation(
            driver=DRIVER, verb=verb,
            reason=f"this vCenter does not offer it ({reason})")
    if isinstance(fault, vmodl.fault.ManagedObjectNotFound):
        return ObjectGone(driver=DRIVER, verb=verb,
                          reason=f"the object is gone from vCenter ({reason})")
    # SnapshotFault, FileFault and the rest: the task failed, vCenter says why.
    return exception.DriverError(driver=DRIVER, verb=verb, reason=reason)

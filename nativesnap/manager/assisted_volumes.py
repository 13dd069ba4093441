"""Cinder's assisted volume snapshots (``os-assisted-volume-snapshots``).

Cinder's NFS-style volume drivers ask the compute service to change the qcow2
chain of a volume that is attached to a server, then wait for a status update
(see docs/cinder.md). nativesnap does what Nova does, as a task:

1. find the server the volume is attached to: each server this host manages
   is asked (``find_volume_disk``: libvirt looks for the disk whose
   ``<serial>`` is the volume id); none, or several, answers 400 as Nova does;
2. let the driver refuse what it cannot do (400, nothing changed);
3. take the server's task lock like any other task, so an assisted snapshot
   never runs at the same time as a server snapshot, revert or another
   assisted snapshot of that server; a busy server answers 400 (Nova's answer
   for a server with a task, in this API);
4. answer Cinder, and do the work in the task runner (bounded by
   ``[DEFAULT] task_timeout`` and the driver's own caps);
5. release the lock, then call Cinder back with the outcome: ``creating`` /
   ``deleting`` at ``90%`` when it worked, ``error`` / ``error_deleting`` when
   not (``90%`` too: Nova sends it with every status). A callback that fails
   is logged and recorded, never raised.

Each request is recorded from start to finish in an AssistedVolumeOperation
(who asked, volume, server, files, duration, callback, fault), listed by
``GET /v1/os-assisted-volume-snapshots``; requests refused with 400 are
recorded too (``refused``), since Cinder only logs that it failed.
"""

import datetime

from oslo_log import log as logging
from oslo_utils import timeutils
from oslo_utils import uuidutils

from nativesnap.common import states
from nativesnap.conf import CONF
from nativesnap.db import api as db
from nativesnap import exception
from nativesnap.objects import server as server_obj
from nativesnap.objects import volume_operation as operation_obj

LOG = logging.getLogger(__name__)

# What Nova tells Cinder; Cinder waits for these exact values.
PROGRESS_DONE = "90%"
CALLBACKS = {
    states.VOLUME_OP_CREATE: ("creating", "error"),
    states.VOLUME_OP_DELETE: ("deleting", "error_deleting"),
}
INTERRUPTED = "interrupted by a restart of the service"


def _fault(exc):
    if isinstance(exc, exception.NativesnapException):
        return {"code": exc.code, "message": exc.message}
    return {"code": 500, "message": f"Unexpected error: {type(exc).__name__}; "
                                    "see the service log."}


# --- finding the volume's server -------------------------------------------------


def find_attachment(manager, context, volume_id):
    """(server, driver, VolumeDisk) of the one server of this host that has
    ``volume_id`` attached; VolumeNotAttached or VolumeAttachedToSeveral."""
    found = []
    for server in server_obj.ServerList.get_all(context, host=manager.host):
        if server.status == states.BUILD or server.hypervisor_ref.startswith(
                "building:"):
            continue
        driver = manager.drivers.get(server.driver)
        if driver is None:
            continue
        try:
            disk = driver.find_volume_disk(context, server, volume_id)
        except exception.UnsupportedOperation:
            continue
        except exception.NativesnapException as e:
            LOG.debug("Server %s: cannot look for volume %s: %s", server.id,
                      volume_id, e)
            continue
        if disk is not None:
            found.append((server, driver, disk))
    if not found:
        raise exception.VolumeNotAttached(volume_id=volume_id)
    if len(found) > 1:
        raise exception.VolumeAttachedToSeveral(
            volume_id=volume_id, servers=", ".join(s.id for s, _, _ in found))
    return found[0]


# --- the record --------------------------------------------------------------


def _new_record(manager, context, action, volume_id, snapshot_id, request):
    op = operation_obj.AssistedVolumeOperation(context)
    op.id = uuidutils.generate_uuid()
    op.host = manager.host
    op.action = action
    op.status = states.VOLUME_OP_RUNNING
    op.volume_id = volume_id
    op.snapshot_id = snapshot_id
    op.user_id = context.user_id
    op.project_id = context.project_id
    op.request_id = context.request_id
    op.request = request
    return op


def _purge_old_records(context):
    days = CONF.assisted_volume_records_days
    if not days:
        return
    try:
        db.volume_operation_purge(
            context, timeutils.utcnow() - datetime.timedelta(days=days))
    except exception.NativesnapException as e:
        LOG.warning("Could not remove old assisted volume records: %s", e)


def _refused(op, exc):
    """Record a request answered with an error: nothing was done."""
    op.status = states.VOLUME_OP_REFUSED
    op.fault = _fault(exc)
    op.finished_at = timeutils.utcnow()
    op.duration_ms = 0
    try:
        op.create()
    except Exception:
        LOG.exception("Could not record the refused assisted volume request "
                      "for volume %s", op.volume_id)


def _finish(op, status, **values):
    try:
        op.finish(status, **values)
    except Exception:
        LOG.exception("Could not record the end of assisted volume operation "
                      "%s", op.id)


def _call_back(manager, op, status):
    """Tell Cinder; what was sent and whether it arrived, for the record.
    A failure is logged, never raised: the work's outcome is decided."""
    sent = {"status": status, "progress": PROGRESS_DONE}
    try:
        manager.volume_api.update_snapshot_status(op.project_id, op.snapshot_id,
                                                  status, progress=PROGRESS_DONE)
        sent["delivered"] = True
    except Exception as e:
        if isinstance(e, exception.NativesnapException):
            LOG.error("Could not tell Cinder that snapshot %s of volume %s is "
                      "%s: %s", op.snapshot_id, op.volume_id, status, e)
        else:
            LOG.exception("Could not tell Cinder that snapshot %s of volume %s "
                          "is %s", op.snapshot_id, op.volume_id, status)
        sent["delivered"] = False
        sent["error"] = (getattr(e, "message", None) or str(e)
                         or type(e).__name__)[:500]
    return sent


# --- create and delete ------------------------------------------------------------


def create(manager, context, volume_id, create_info):
    """Snapshot volume ``volume_id`` as ``create_info`` says; Nova's answer."""
    op = _new_record(manager, context, states.VOLUME_OP_CREATE, volume_id,
                     create_info["snapshot_id"], create_info)
    _run(manager, context, op, states.VOLUME_SNAPSHOTTING,
         lambda driver, server, disk: driver.validate_volume_snapshot_create(
             context, server, disk, create_info),
         lambda driver, server, progress: driver.volume_snapshot_create(
             context, server, volume_id, create_info, progress))
    return {"id": create_info.get("id"), "volumeId": volume_id}


def delete(manager, context, snapshot_id, delete_info):
    """Merge Cinder snapshot ``snapshot_id``'s file as ``delete_info`` says."""
    volume_id = delete_info["volume_id"]
    op = _new_record(manager, context, states.VOLUME_OP_DELETE, volume_id,
                     snapshot_id, delete_info)
    _run(manager, context, op, states.DELETING_VOLUME_SNAPSHOT,
         lambda driver, server, disk: driver.validate_volume_snapshot_delete(
             context, server, disk, delete_info),
         lambda driver, server, progress: driver.volume_snapshot_delete(
             context, server, volume_id, delete_info, progress))


def _run(manager, context, op, task_state, validate, work_on):
    _purge_old_records(context)
    try:
        server, driver, disk = find_attachment(manager, context, op.volume_id)
        op.server_id = server.id
        op.disk = disk.target
        validate(driver, server, disk)
    except exception.NativesnapException as e:
        _refused(op, e)
        raise
    ok, failed = CALLBACKS[op.action]

    def work(task):
        return work_on(driver, server, lambda percent: task.check_cancelled())

    def on_success(task, result):
        # The lock goes first: Cinder may send its next request as soon as
        # it hears back.
        manager._release(server, task)
        _save_files(op, result.files)
        _finish(op, states.VOLUME_OP_SUCCEEDED, callback=_call_back(manager, op,
                                                                   ok))

    def on_failure(task, exc):
        LOG.error("Assisted %s of volume %s (Cinder snapshot %s) on server %s "
                  "failed: %s", op.action, op.volume_id, op.snapshot_id,
                  server.id, exc)
        manager._release(server, task,
                         status=manager._status_after_failure(server))
        _finish(op, states.VOLUME_OP_FAILED, fault=_fault(exc),
                callback=_call_back(manager, op, failed))

    try:
        manager._start_task(server, task_state, f"volume_snapshot_{op.action}",
                            work, on_success, on_failure, records=[op.create])
    except exception.Conflict as e:
        busy = exception.VolumeServerBusy(
            server_id=server.id, volume_id=op.volume_id,
            task_state=e.kwargs.get("task_state") or e.kwargs.get("actual"))
        _refused(op, busy)
        raise busy from None
    except exception.NativesnapException as e:
        if not op.obj_attr_is_set("created_at"):  # else on_failure recorded it
            _refused(op, e)
        raise


def _save_files(op, files):
    """The work is done: say so before Cinder is called, so a restart in
    between still tells Cinder it worked (see recover)."""
    try:
        op.files = files
        op.save()
    except Exception:
        LOG.exception("Could not record the files of assisted volume "
                      "operation %s", op.id)


# --- recovery ------------------------------------------------------------------


def recover(manager, context):
    """Finish the records a restart left running, and tell Cinder.

    Start-up recovery has already released the server's lock; here the
    driver thaws the guest, cancels a block job left behind and says from
    the chain whether the work had been done."""
    for op in operation_obj.AssistedVolumeOperationList.get_running(
            context, manager.host):
        try:
            _recover_one(manager, context, op)
        except Exception:
            LOG.exception("Recovering assisted volume operation %s failed",
                          op.id)


def _recover_one(manager, context, op):
    ok, failed = CALLBACKS[op.action]
    if op.files is not None:
        done, reason = True, ""
    else:
        try:
            server = server_obj.Server.get_by_id(context, op.server_id)
            outcome = manager.driver_for(server).reconcile_volume_operation(
                context, server, op)
            done, reason = outcome.completed, outcome.reason
        except exception.NativesnapException as e:
            done, reason = False, str(e)
    LOG.info("Assisted %s of volume %s was %s by a restart; %s", op.action,
             op.volume_id, "complete when interrupted" if done else "interrupted",
             "telling Cinder it worked" if done else f"{reason}; telling Cinder "
             "it failed")
    if done:
        _finish(op, states.VOLUME_OP_SUCCEEDED,
                callback=_call_back(manager, op, ok))
    else:
        _finish(op, states.VOLUME_OP_FAILED,
                fault={"code": 500, "message": f"{INTERRUPTED}; {reason}"},
                callback=_call_back(manager, op, failed))

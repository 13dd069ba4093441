"""Cinder's assisted volume snapshots (``os-assisted-volume-snapshots``),
on the compute side.

Cinder's NFS-style volume drivers ask the compute service to change the qcow2
chain of a volume that is attached to a server, then wait for a status update
(see docs/cinder.md). nativesnap does what Nova does, as a task:

1. the API side finds the server the volume is attached to in the record of
   attachments the compute services keep (none, or several, answers 400 as
   Nova does), records the request, and asks this service to let the
   driver's volume snapshot interface refuse what it cannot do (400, nothing
   changed) and to reserve the task's place;
2. it does not take the server's task lock: Cinder snapshots several
   volumes of one server at once and expects each to succeed, as Nova lets
   it. The operation is recorded ``queued`` and Cinder is answered;
3. here it takes its turn on the server (``queues.py``): one driver
   operation per server at a time, in arrival order, so it never runs with
   a server snapshot, a revert or another assisted snapshot of that server;
   it waits at most ``[cinder] volume_operation_wait``, then fails with what
   it waited for. Its work runs in the task runner (bounded by
   ``[DEFAULT] task_timeout`` and the driver's own caps);
4. the turn goes to the next, then Cinder is called back with the outcome:
   ``creating`` / ``deleting`` at ``90%`` when it worked, ``error`` /
   ``error_deleting`` when not (``90%`` too: Nova sends it with every
   status). A callback that fails is logged and recorded, never raised.
   The callback is made for Cinder's request: with Keystone, with the token
   Cinder sent (plus nativesnap's service token when configured); one made by
   recovery has no request behind it and uses ``[cinder]``'s credentials.

Each request is recorded from start to finish in an AssistedVolumeOperation
(who asked, volume, server, files, duration, callback, fault), listed by
``GET /v1/os-assisted-volume-snapshots``; requests refused with 400 are
recorded too (``refused``), since Cinder only logs that it failed.
"""

from oslo_log import log as logging

from nativesnap.common import failpoints
from nativesnap.common import states
from nativesnap.compute import tasks
from nativesnap import exception
from nativesnap.objects import server as server_obj
from nativesnap.objects import volume_operation as operation_obj
from nativesnap.virt import driver as virt_driver

LOG = logging.getLogger(__name__)

# What Nova tells Cinder; Cinder waits for these exact values.
PROGRESS_DONE = "90%"
CALLBACKS = {
    states.VOLUME_OP_CREATE: ("creating", "error"),
    states.VOLUME_OP_DELETE: ("deleting", "error_deleting"),
}
INTERRUPTED = "interrupted by a restart of the service"


TASKS = (states.VOLUME_SNAPSHOTTING, states.DELETING_VOLUME_SNAPSHOT)


def _interface(driver, action):
    return driver.interface(virt_driver.VOLUME_SNAPSHOT,
                            f"volume_snapshot_{action}")


def validate(driver, context, server, task_state, request):
    """Let the driver refuse (400) what it cannot do, before Cinder is
    answered; ``request``: {"volume_id", "info": create or delete info}."""
    if task_state == states.VOLUME_SNAPSHOTTING:
        _interface(driver, "create").validate_create(
            context, server, request["volume_id"], request["info"])
    else:
        _interface(driver, "delete").validate_delete(
            context, server, request["volume_id"], request["info"])


def _finish(op, status, **values):
    try:
        op.finish(status, **values)
    except Exception:
        LOG.exception("Could not record the end of assisted volume operation "
                      "%s", op.id)


def _call_back(manager, op, status, context=None):
    """Tell Cinder; what was sent and whether it arrived, for the record.
    A failure is logged, never raised: the work's outcome is decided.
    ``context``: Cinder's request, whose token the call carries."""
    sent = {"status": status, "progress": PROGRESS_DONE}
    try:
        manager.volume_api.update_snapshot_status(op.project_id, op.snapshot_id,
                                                  status, progress=PROGRESS_DONE,
                                                  context=context)
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


# --- the task ------------------------------------------------------------------


class VolumeSnapshotTask(tasks.ServerTask):
    """An assisted create or delete; its target is the operation's record."""

    def __init__(self, manager, context, server, target=None, **args):
        super().__init__(manager, context, server, target, **args)
        self.task_state = (states.VOLUME_SNAPSHOTTING
                           if target.action == states.VOLUME_OP_CREATE
                           else states.DELETING_VOLUME_SNAPSHOT)
        self.name = f"volume_snapshot_{target.action}"

    @property
    def task_id(self):
        return self.target.id  # no server lock: the operation's own id

    def _first_step(self, task):
        try:
            self.target.start()  # queued -> running
        except exception.Conflict:
            raise exception.TaskCancelled(task=self.name, server_id=self.server.id,
                                          reason="it no longer waits to run") \
                from None
        return self.work(task)

    def release(self, task, **values):
        """No server lock to release: the turn goes by itself."""

    def work(self, task):
        failpoints.hit("manager.assisted.before_driver")
        op = self.target
        interface = _interface(self.driver, op.action)
        verb = (interface.create if op.action == states.VOLUME_OP_CREATE
                else interface.delete)
        return verb(self.context, self.server, op.volume_id, op.request,
                    self.cancellable(task))

    def succeeded(self, task, result):
        op = self.target
        _save_files(op, result.files)
        _finish(op, states.VOLUME_OP_SUCCEEDED,
                callback=_call_back(self.manager, op, CALLBACKS[op.action][0],
                                    context=self.context))

    def failed(self, task, exc):
        op = self.target
        LOG.error("Assisted %s of volume %s (Cinder snapshot %s) on server %s "
                  "failed: %s", op.action, op.volume_id, op.snapshot_id,
                  self.server.id, exc)
        _finish(op, states.VOLUME_OP_FAILED, fault=exception.fault_of(exc),
                callback=_call_back(self.manager, op, CALLBACKS[op.action][1],
                                    context=self.context))


def task_for(manager, context, server, operation):
    return VolumeSnapshotTask(manager, context, server, operation)


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


def recover(manager, context, server_id=None):
    """Finish the records a restart left queued or running (of one server,
    or all of this host), and tell Cinder.

    A queued one never started: Cinder hears it failed. For a running one
    the driver thaws the guest, cancels a block job left behind and says
    from the chain whether the work had been done."""
    for op in operation_obj.AssistedVolumeOperationList.get_in_flight(
            context, host=manager.host, server_id=server_id):
        try:
            if op.status == states.VOLUME_OP_QUEUED:
                never_started(manager, op, f"{INTERRUPTED} before it started")
            else:
                _recover_one(manager, context, op)
        except Exception:
            LOG.exception("Recovering assisted volume operation %s failed",
                          op.id)


def never_started(manager, op, reason):
    """End a queued operation that will never run; Cinder hears it failed."""
    LOG.info("Assisted %s of volume %s %s; telling Cinder it failed", op.action,
             op.volume_id, reason)
    _finish(op, states.VOLUME_OP_FAILED,
            fault={"code": 500, "message": f"{reason}; nothing was done to the "
                                           "volume"},
            callback=_call_back(manager, op, CALLBACKS[op.action][1]))


def _recover_one(manager, context, op):
    ok, failed = CALLBACKS[op.action]
    if op.files is not None:
        done, reason = True, ""
    else:
        try:
            server = server_obj.Server.get_by_id(context, op.server_id)
            outcome = _interface(manager.driver_for(server),
                                 op.action).reconcile(context, server, op)
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

"""Start-up recovery: finish or roll back what a crash interrupted.

A task that was running when the service died left its marks in the database:
its server's ``task_state``/``task_id``, a snapshot in ``creating`` or
``deleting``, an image in ``saving``, a server in ``BUILD``. For each, the
driver is asked what the hypervisor really holds (``reconcile``) and the record
is rolled forward (the work had completed) or back (the driver removed what was
half-made). Afterwards nothing is left ``creating`` or ``deleting`` and no
server holds a task lock, but for tasks that wait for an outside event: those
lost nothing in the restart (their wait is recorded), so they go on waiting
until their event or their deadline.

The same reconciliation serves, at once, a task whose outcome could not be
saved and a lock whose task never reached the compute service.
"""

from oslo_log import log as logging

from nativesnap.common import states
from nativesnap.compute import assisted_volumes
from nativesnap.compute import server_volumes
from nativesnap.compute import tasks
from nativesnap import context as ns_context
from nativesnap import exception
from nativesnap.objects import image as image_obj
from nativesnap.objects import server as server_obj
from nativesnap.objects import snapshot as snapshot_obj
from nativesnap.virt import driver as virt_driver

LOG = logging.getLogger(__name__)

INTERRUPTED = "interrupted by a restart of the service"
# A task whose outcome could not be saved is reconciled at once, the same way.
NOT_SAVED = "interrupted: its outcome could not be saved"
# A lock whose task never reached the compute service (a lost cast).
NEVER_STARTED = "never started: the compute service did not receive it"


def recover(manager, context):
    busy = server_obj.ServerList.get_busy(context, manager.host)
    servers = [s for s in busy if s.task_state not in states.RUNNING_STATE_OF]
    # What waiting tasks work on stays as it is.
    waited_on = {s.task_target_id for s in busy
                 if s.task_state in states.RUNNING_STATE_OF}
    for server in servers:
        try:
            _recover_server(manager, context, server)
        except Exception:
            LOG.exception("Recovering server %s (task %s) failed; it stays locked "
                          "for an operator to look at", server.id, server.task_state)
    # Records left in flight without a lock (e.g. a crash between two saves).
    for snapshot in snapshot_obj.ServerSnapshotList.get_by_status(
            context, manager.host, (states.CREATING, states.DELETING)):
        if snapshot.id in waited_on:
            continue
        server = server_obj.Server.get_by_id(context, snapshot.server_id)
        try:
            _recover_snapshot(manager, context, server, snapshot)
        except Exception:
            LOG.exception("Recovering snapshot %s failed", snapshot.id)
    for image in image_obj.ImageList.get_by_status(
            context, (states.IMAGE_SAVING,), host=manager.host):
        if image.snapshot_id in waited_on:
            continue
        manager.discard_export(context, image)
        image.status = states.IMAGE_ERROR
        image.fault = {"code": 500, "message": f"Export {INTERRUPTED}; "
                                               "export the snapshot again."}
        image.save()
    # Cinder's assisted snapshots (their servers' locks are released above).
    assisted_volumes.recover(manager, context)
    if servers:
        LOG.info("Start-up recovery finished %d interrupted task(s)", len(servers))


def _reconcile(manager, context, server, task_state, target):
    try:
        return manager.driver_for(server).reconcile(context, server, task_state,
                                                    target)
    except exception.DriverNotEnabled:
        raise
    except Exception as e:
        LOG.exception("Driver reconcile of server %s failed", server.id)
        return virt_driver.Reconciled(completed=False,
                                      reason=f"reconcile failed: {e}")


def _recover_snapshot(manager, context, server, snapshot, why=INTERRUPTED):
    task_state = (states.SNAPSHOTTING if snapshot.status == states.CREATING
                  else states.DELETING_SNAPSHOT)
    outcome = _reconcile(manager, context, server, task_state, snapshot)
    server_values = ({} if outcome.server_driver_info is None
                     else {"driver_info": outcome.server_driver_info})
    if snapshot.status == states.CREATING:
        if outcome.completed:
            LOG.info("Snapshot %s was complete on the hypervisor; rolled forward",
                     snapshot.id)
            values = {k: v for k, v in outcome.values.items()
                      if k in snapshot.fields}
            snapshot.transition(states.CREATE_DONE, progress=100, **values)
            if snapshot.volumes:
                server_volumes.finalise(manager.volume_api, snapshot.project_id,
                                        snapshot.volumes, server_volumes.AVAILABLE)
            return dict(server_values, current_snapshot_id=snapshot.id)
        LOG.info("Snapshot %s was not complete (%s); rolled back", snapshot.id,
                 outcome.reason)
        snapshot.transition(states.CREATE_FAILED, fault={
            "code": 500, "message": f"Snapshot {why}; {outcome.reason}."})
        if snapshot.volumes:
            server_volumes.finalise(manager.volume_api, snapshot.project_id,
                                    snapshot.volumes, server_volumes.ERROR)
        return server_values
    if outcome.completed:
        LOG.info("Snapshot %s was already removed; finishing its delete",
                 snapshot.id)
        snapshot.remove_from_tree()
        return dict(server_values, **tasks.current_after_delete(server, snapshot))
    snapshot.transition(states.DELETE_FAILED, fault={
        "code": 500, "message": f"Delete {why}; {outcome.reason}; "
                                "delete it again."})
    return server_values


def _recover_server(manager, context, server, why=INTERRUPTED):
    task_state = server.task_state
    LOG.info("Recovering server %s interrupted while %s", server.id, task_state)
    values = {}
    target = None
    if server.task_target_id and task_state in (
            states.SNAPSHOTTING, states.DELETING_SNAPSHOT, states.REVERTING,
            states.SPAWNING):
        try:
            target = snapshot_obj.ServerSnapshot.get_by_id(context,
                                                           server.task_target_id)
        except exception.SnapshotNotFound:
            target = None
    # A bare-metal server at work ends done when the work was finished.
    provision_event = states.PROVISION_FAIL
    if task_state in (states.SNAPSHOTTING, states.DELETING_SNAPSHOT):
        if target is not None and target.status in (states.CREATING,
                                                    states.DELETING):
            values.update(_recover_snapshot(manager, context, server, target, why))
            if "current_snapshot_id" in values:
                provision_event = states.PROVISION_DONE
    elif task_state == states.DELETING_SERVER:
        # Deleting a server is idempotent: finish it (destroying is done again
        # for a spawned server, an adopted one is only forgotten).
        driver = manager.driver_for(server)
        if (server.origin == states.SPAWNED
                and not server.hypervisor_ref.startswith("building:")):
            driver.destroy_server(context, server)
        server.destroy()
        return
    elif task_state in (states.REVERTING, states.SPAWNING):
        outcome = _reconcile(manager, context, server, task_state, target)
        if task_state == states.REVERTING and outcome.completed and target:
            values.update(current_snapshot_id=target.id, fault=None)
        if outcome.completed:
            provision_event = states.PROVISION_DONE
        if task_state == states.SPAWNING and not outcome.completed:
            values["status"] = states.SERVER_ERROR
        if not outcome.completed:
            values["fault"] = {"code": 500,
                               "message": f"{task_state.capitalize()} {why}; "
                                          f"{outcome.reason}."}
        values.update({k: v for k, v in outcome.values.items()
                       if k in ("status", "hypervisor_ref", "driver_info")})
        if outcome.server_driver_info is not None:
            values["driver_info"] = outcome.server_driver_info
    if "status" not in values and server.status != states.BUILD:
        try:
            values["status"] = manager.driver_for(server).get_server_state(
                context, server)
        except Exception as e:
            LOG.warning("Could not read the state of server %s: %s", server.id, e)
    server.end_task(task_state, server.task_id, provision_event=provision_event,
                    **values)


def recover_task(manager, server_id, task_id, why=NOT_SAVED):
    """Reconcile one task at once, as start-up recovery would after a crash:
    one whose outcome could not be saved (the database failed at that
    moment), or one that never started, so that its server is not left
    locked until the next restart. Nothing is done once the lock has moved
    on."""
    context = ns_context.get_admin_context()
    server = server_obj.Server.get_by_id(context, server_id)
    if server.task_id != task_id:
        return
    if server.task_state == states.EXPORTING:  # before the lock is released
        for image in image_obj.ImageList.get_by_snapshots(
                context, [server.task_target_id]):
            if image.status == states.IMAGE_SAVING:
                manager.discard_export(context, image)
                image.status = states.IMAGE_ERROR
                image.fault = {"code": 500, "message": f"Export {why}; "
                                                       "export the snapshot again."}
                image.save()
    volume_task = server.task_state in assisted_volumes.TASKS
    _recover_server(manager, context, server, why=why)
    if volume_task:
        assisted_volumes.recover(manager, context, server_id=server_id)
    LOG.info("Task %s on server %s reconciled (%s)", task_id, server_id, why)

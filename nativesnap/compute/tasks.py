"""The tasks a compute service runs for its servers, one class per kind.

The API side has already taken the server's task lock and written the
task's records (docs/architecture.md); a task here runs the driver's verb in
the task runner and records the outcome: it moves the target through its
state machine and releases the lock in compare-and-swap saves that name the
task's id, so a task that was given up after a timeout cannot overwrite what
a later task did.

A task is built from records alone (its server, its target, a few JSON
arguments), so one whose driver returned ``Waiting`` can be rebuilt after a
restart and carried on when its event comes, or failed when its deadline
passes (``ComputeManager.resume_task`` and the wait check). Every task takes
its turn on its server (``queues.py``): one driver operation per server at a
time.
"""

from oslo_log import log as logging

from nativesnap.common import failpoints
from nativesnap.common import states
from nativesnap.compute import server_volumes
from nativesnap.compute import task_runner
from nativesnap.conf import CONF
from nativesnap import exception
from nativesnap.objects import base as obj_base
from nativesnap.objects import image as image_obj
from nativesnap.objects import server as server_obj
from nativesnap.objects import snapshot as snapshot_obj
from nativesnap.virt import driver as virt_driver

LOG = logging.getLogger(__name__)


def server_driver_info(result):
    """The server's new driver_info from a driver result, if it has one."""
    info = getattr(result, "server_driver_info", None)
    return {} if info is None else {"driver_info": info}


def current_after_delete(server, snapshot):
    """What the server's current snapshot becomes once ``snapshot`` is gone."""
    if server.current_snapshot_id == snapshot.id:
        return {"current_snapshot_id": snapshot.parent_id}
    return {}


class ServerTask:
    """One task on one server: ``work`` runs the driver, ``succeeded`` and
    ``failed`` record the outcome. ``args`` are JSON values the task needs
    besides its server and target; they are kept with a waiting task."""

    task_state = None
    name = None
    #: What the task's end does to a bare-metal server's provision state
    #: (done or fail), set when the outcome is known.
    provision_outcome = None

    def __init__(self, manager, context, server, target=None, **args):
        self.manager = manager
        self.context = context
        self.server = server
        self.target = target
        self.args = args
        self.driver = manager.driver_for(server)

    # --- what the manager calls -------------------------------------------

    def start(self, reservation=None):
        """Queue the task, in the place the API side reserved for it."""
        self._submit(self._first_step, reservation)

    def resume(self, data, event):
        """Queue the rest of a task whose driver waited for ``event``."""
        def step(task):
            return self.driver.resume_task(self.context, self.server,
                                           self.task_state, self.target, data,
                                           event, self.resume_progress(task))
        self._submit(step, None)

    def fail_now(self, exc):
        """Record ``exc`` as the task's outcome without running anything."""
        self.manager.recorded(self._failed)(self._runner_task(None), exc)

    # --- steps --------------------------------------------------------------

    @property
    def task_id(self):
        """The id the task runs and records under: its server lock's."""
        return self.server.task_id

    def _runner_task(self, step):
        return task_runner.Task(self.task_id, self.name, self.server.id,
                                step, self.manager.recorded(self._succeeded),
                                self.manager.recorded(self._failed),
                                CONF.task_timeout)

    def _submit(self, step, reservation):
        """Queue for the server's turn (queues.py), then run in the pool."""
        self.manager.queues.submit(self.server.id, self._runner_task(step),
                                   reservation, CONF.cinder.volume_operation_wait)

    def _first_step(self, task):
        # The lock must still be this task's: a lost cast's lock may have
        # been reconciled meanwhile (ComputeManager.check_orphaned_tasks).
        if not self.manager.holds_lock(self.server, task.id):
            raise exception.TaskCancelled(task=self.name,
                                          server_id=self.server.id,
                                          reason="its lock was released")
        return self.work(task)

    def _succeeded(self, task, result):
        if isinstance(result, virt_driver.Waiting):
            self.manager.record_wait(self, task, result)
            return
        self.provision_outcome = states.PROVISION_DONE
        self.succeeded(task, result)

    def _failed(self, task, exc):
        self.provision_outcome = states.PROVISION_FAIL
        self.failed(task, exc)

    # --- for the subclasses ----------------------------------------------------

    def work(self, task):
        raise NotImplementedError

    def succeeded(self, task, result):
        raise NotImplementedError

    def failed(self, task, exc):
        raise NotImplementedError

    def progress(self, task, record):
        def progress(percent):
            task.check_cancelled()
            try:
                record.set_progress(percent)
            except exception.NotFound:
                pass  # the record went away under an abandoned task
        return progress

    def cancellable(self, task):
        return lambda percent: task.check_cancelled()

    def resume_progress(self, task):
        """What a resumed verb reports its progress to."""
        return self.cancellable(task)

    def release(self, task, **values):
        """End ``task``'s hold on the server; a later task's lock is left alone."""
        try:
            self.server.end_task(self.server.task_state, task.id,
                                 provision_event=self.provision_outcome,
                                 **values)
        except exception.Conflict as e:
            LOG.warning("Task %s no longer holds server %s: %s", task.id,
                        self.server.id, e)

    def status_after_failure(self):
        try:
            return self.driver.get_server_state(self.context, self.server)
        except Exception:
            return self.server.status

    def fail_target(self, event, exc):
        """Move the target snapshot by ``event`` with ``exc`` as its fault."""
        try:
            self.target.transition(event, fault=exception.fault_of(exc))
        except exception.Conflict as e:
            LOG.warning("Snapshot %s moved on before its failure was "
                        "recorded: %s", self.target.id, e)


class CreateSnapshot(ServerTask):
    task_state = states.SNAPSHOTTING
    name = "create_snapshot"

    def work(self, task):
        failpoints.hit("manager.create.before_driver")
        snapshot = self.target
        if snapshot.include_volumes:
            server_volumes.make_cinder_snapshots(self.manager.volume_api,
                                                 self.driver, self.server,
                                                 snapshot, context=self.context)
        return self.driver.create_snapshot(self.context, self.server, snapshot,
                                           self.progress(task, snapshot))

    def resume_progress(self, task):
        return self.progress(task, self.target)

    def succeeded(self, task, result):
        failpoints.hit("manager.create.before_db_save")
        snapshot = self.target
        # One transaction: a crash cannot leave the snapshot available but
        # the lock held and the server's current snapshot not moved.
        with obj_base.transaction(self.context):
            snapshot.transition(states.CREATE_DONE, progress=100,
                                kind=result.kind, consistency=result.consistency,
                                frozen_ms=result.frozen_ms,
                                paused_ms=result.paused_ms,
                                size_bytes=result.size_bytes,
                                memory=result.memory, disks=result.disks,
                                volumes=result.volumes,
                                driver_info=result.driver_info)
            self.release(task, current_snapshot_id=snapshot.id,
                         **server_driver_info(result))
        if result.volumes:
            server_volumes.finalise(self.manager.volume_api,
                                    self.server.project_id, result.volumes,
                                    server_volumes.AVAILABLE,
                                    context=self.context)

    def failed(self, task, exc):
        snapshot = self.target
        LOG.error("Snapshot %s of server %s failed: %s", snapshot.id,
                  self.server.id, exc)
        self.fail_target(states.CREATE_FAILED, exc)
        self.release(task, status=self.status_after_failure())
        if snapshot.volumes:
            server_volumes.finalise(self.manager.volume_api,
                                    self.server.project_id, snapshot.volumes,
                                    server_volumes.ERROR, context=self.context)


class DeleteSnapshot(ServerTask):
    task_state = states.DELETING_SNAPSHOT
    name = "delete_snapshot"

    def work(self, task):
        failpoints.hit("manager.delete.before_driver")
        return self.driver.delete_snapshot(self.context, self.server, self.target,
                                           self.progress(task, self.target))

    def succeeded(self, task, result):
        failpoints.hit("manager.delete.before_db_save")
        snapshot = self.target
        # One transaction: a crash cannot leave the row gone but the
        # server's current snapshot naming it.
        with obj_base.transaction(self.context):
            snapshot.remove_from_tree(
                getattr(result, "snapshot_driver_info", None))
            self.release(task, **current_after_delete(self.server, snapshot),
                         **server_driver_info(result))

    def failed(self, task, exc):
        LOG.error("Deleting snapshot %s of server %s failed: %s",
                  self.target.id, self.server.id, exc)
        self.fail_target(states.DELETE_FAILED, exc)
        self.release(task, status=self.status_after_failure())


class Revert(ServerTask):
    task_state = states.REVERTING
    name = "revert"

    def work(self, task):
        failpoints.hit("manager.revert.before_driver")
        return self.driver.revert_to_snapshot(self.context, self.server,
                                              self.target, self.args["power_on"],
                                              self.cancellable(task))

    def succeeded(self, task, result):
        failpoints.hit("manager.revert.before_db_save")
        self.release(task, status=result.status,
                     current_snapshot_id=self.target.id, fault=None,
                     **server_driver_info(result))

    def failed(self, task, exc):
        LOG.error("Reverting server %s to snapshot %s failed: %s",
                  self.server.id, self.target.id, exc)
        self.release(task, status=self.status_after_failure(),
                     fault=exception.fault_of(exc))


class Spawn(ServerTask):
    """The lock is the new server's; the target is the source snapshot."""

    task_state = states.SPAWNING
    name = "spawn"

    def __init__(self, manager, context, server, target=None, **args):
        super().__init__(manager, context, server, target, **args)
        self.source = server_obj.Server.get_by_id(context, target.server_id)

    def work(self, task):
        failpoints.hit("manager.spawn.before_driver")
        return self.driver.spawn_from_snapshot(
            self.context, self.source, self.target, self.server,
            self.args["linked"], self.args["power_on"], self.cancellable(task))

    def succeeded(self, task, result):
        failpoints.hit("manager.spawn.before_db_save")
        values = {}
        if result.flatten:
            # The disk is a clone the flattener copies after the spawn; the
            # handle is kept to resume it after a restart (flatten.py).
            values = {"flatten_progress": 0, "flatten_ref": result.flatten}
        self.release(task, hypervisor_ref=result.hypervisor_ref,
                     status=result.status, driver_info=result.driver_info,
                     **values)
        if result.flatten:
            self.manager.flattener.start_server(self.context, self.server,
                                                result.flatten)
        self.manager.sync_server(self.context, self.server)

    def failed(self, task, exc):
        LOG.error("Spawning server %s from snapshot %s failed: %s",
                  self.server.id, self.target.id, exc)
        self.release(task, status=states.SERVER_ERROR, fault=exception.fault_of(exc))


class Export(ServerTask):
    task_state = states.EXPORTING
    name = "export_snapshot"

    def __init__(self, manager, context, server, target=None, **args):
        super().__init__(manager, context, server, target, **args)
        self.image = image_obj.Image.get_by_id(context, args["image_id"])

    def work(self, task):
        failpoints.hit("manager.export.before_driver")
        image, store = self.image, self.manager.image_store
        # Which store, compute service and store object hold it, before
        # anything is made: a crash after this leaves it findable.
        image.backend = store.backend
        image.host = self.manager.host
        store.assign(image)
        image.save()
        progress = self.progress(task, image)
        # With an upload after it, the driver's copy is the first half.
        share = 0.5 if store.uploads else 1.0
        result = self.driver.export_snapshot(
            self.context, self.server, self.target, store.staging(image),
            image.disk_format, lambda percent: progress(percent * share),
            clone_as=image.id if store.location_schemes else None)
        failpoints.hit("manager.export.before_rename")
        if result.location:  # a clone: no data crossed the host
            location = store.add_location(self.context, image, result.location,
                                          hypervisor=self.server.driver)
        else:
            location = store.commit(self.context, image, result,
                                    lambda percent: progress(50 + percent / 2),
                                    hypervisor=self.server.driver)
        return result, location

    def succeeded(self, task, outcome):
        failpoints.hit("manager.export.before_db_save")
        result, location = outcome
        image = self.image
        image.status = states.IMAGE_ACTIVE
        image.progress = 100
        image.size_bytes = result.size_bytes
        image.sha256 = result.sha256
        image.location = location
        image.fallback_reason = result.fallback_reason
        if result.flatten:
            image.flatten_progress = 0
        image.save()
        self.release(task)
        if result.flatten:
            self.manager.flattener.start_image(self.context, image,
                                               self.server.driver,
                                               result.flatten)

    def failed(self, task, exc):
        LOG.error("Exporting snapshot %s failed: %s", self.target.id, exc)
        image = self.image
        self.manager.discard_export(self.context, image)
        image.status = states.IMAGE_ERROR
        image.fault = exception.fault_of(exc)
        image.save()
        self.release(task)


# Tasks that may wait, by their running task state (to rebuild them).
BY_TASK_STATE = {cls.task_state: cls for cls in
                 (CreateSnapshot, DeleteSnapshot, Revert, Spawn, Export)}


def rebuild(manager, context, server):
    """The task that holds ``server``'s lock, from the records alone."""
    running = states.RUNNING_STATE_OF.get(server.task_state, server.task_state)
    cls = BY_TASK_STATE[running]
    target = snapshot_obj.ServerSnapshot.get_by_id(context, server.task_target_id)
    args = (server.task_wait_info or {}).get("args") or {}
    return cls(manager, context, server, target, **args)

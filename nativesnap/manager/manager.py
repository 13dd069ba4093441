"""The manager: the lifecycle of servers and snapshots.

The API asks the manager; the manager takes the server's task lock (a
compare-and-swap of ``task_state`` from null), records the new state, queues
the driver work on the task runner and answers at once. The task's outcome is
recorded by moving the snapshot through the state machine and releasing the
lock in compare-and-swap saves that name the task's id.
"""

import threading

from oslo_log import log as logging
from oslo_utils import uuidutils

from nativesnap.common import failpoints
from nativesnap.common import states
from nativesnap.conf import CONF
from nativesnap.db import api as db
from nativesnap import exception
from nativesnap.image import local as local_store
from nativesnap.manager import assisted_volumes
from nativesnap.manager import recovery
from nativesnap.manager import server_volumes
from nativesnap.manager import task_runner
from nativesnap import objects
from nativesnap.objects import image as image_obj
from nativesnap.objects import server as server_obj
from nativesnap.objects import snapshot as snapshot_obj
from nativesnap.virt import driver as virt_driver

LOG = logging.getLogger(__name__)

objects.register_all()


def fault_of(exc):
    """The ``fault`` recorded for a failed operation: code and a clear message."""
    if isinstance(exc, exception.NativesnapException):
        return {"code": exc.code, "message": exc.message}
    return {"code": 500, "message": f"Unexpected error: {type(exc).__name__}; "
                                    "see the service log."}


def _server_driver_info(result):
    """The server's new driver_info from a driver result, if it has one."""
    info = getattr(result, "server_driver_info", None)
    return {} if info is None else {"driver_info": info}


class Manager:
    def __init__(self, host=None, drivers=None, runner=None, image_store=None,
                 volume_api=None):
        self.host = host or CONF.host
        self.drivers = drivers if drivers is not None else {
            name: virt_driver.load_driver(name) for name in CONF.enabled_drivers}
        self.runner = runner or task_runner.TaskRunner(
            workers=CONF.task_workers, queue_size=CONF.task_queue_size,
            cancel_grace=CONF.task_cancel_grace)
        self.image_store = image_store or local_store.LocalImageStore(
            CONF.image.store_path)
        self._volume_api = volume_api
        self._sync_stop = threading.Event()
        self._sync_thread = None

    @property
    def volume_api(self):
        """Cinder, made on first use: most deployments never call it."""
        if self._volume_api is None:
            from nativesnap.volume import cinder
            self._volume_api = cinder.CinderAPI()
        return self._volume_api

    # --- start-up and shutdown -----------------------------------------------

    def init_host(self, context):
        """Connect the drivers and finish what a crash interrupted."""
        for driver in self.drivers.values():
            driver.init_host(self.host)
        self.image_store.ensure()
        recovery.recover(self, context)

    def start_status_sync(self, context, interval):
        if interval <= 0:
            return
        self._sync_thread = threading.Thread(
            target=self._sync_loop, args=(context, interval),
            name="nativesnap-status-sync", daemon=True)
        self._sync_thread.start()

    def _sync_loop(self, context, interval):
        while not self._sync_stop.wait(interval):
            try:
                self.sync_server_statuses(context)
            except Exception:
                LOG.exception("Periodic server status sync failed")

    def sync_server_statuses(self, context):
        for server in server_obj.ServerList.get_all(context, host=self.host,
                                                    filters={"task_state": None}):
            self.refresh_status(server)

    def shutdown(self, timeout):
        self._sync_stop.set()
        left = self.runner.shutdown(timeout)
        for task in left:
            LOG.warning("Task %s (%s) on server %s still running at shutdown; "
                        "start-up recovery will finish or roll it back",
                        task.id, task.name, task.server_id)
        for driver in self.drivers.values():
            driver.cleanup_host()
        return left

    # --- helpers -----------------------------------------------------------------

    def driver_for(self, server_or_name):
        name = getattr(server_or_name, "driver", server_or_name)
        try:
            return self.drivers[name]
        except KeyError:
            raise exception.DriverNotEnabled(
                driver=name, enabled=", ".join(sorted(self.drivers)) or "none"
            ) from None

    def refresh_status(self, server):
        """Make the server's status follow the hypervisor (when no task runs)."""
        if server.task_state is not None or server.status == states.BUILD:
            return server
        if server.hypervisor_ref.startswith("building:"):
            return server  # a spawn that never finished: nothing to ask about
        try:
            status = self.driver_for(server).get_server_state(server._context, server)
        except exception.NativesnapException as e:
            LOG.debug("Could not read the state of server %s: %s", server.id, e)
            return server
        if status != server.status:
            server.status = status
            try:
                server.save(expected_task_state=None)
            except exception.Conflict:
                server.refresh()  # a task started meanwhile; it owns the row now
        return server

    def _start_task(self, server, task_state, name, work, on_success, on_failure,
                    target_id=None, records=(), views=()):
        """Take a place in the task queue (503 when full, before anything is
        recorded), then ``server``'s task lock and ``records`` in one
        transaction, and queue the work. Returns copies of ``views`` taken
        before the task could touch them, for the API's answer (the task owns
        the originals)."""
        task = task_runner.Task(uuidutils.generate_uuid(), name, server.id, work,
                                self._or_reconcile(on_success),
                                self._or_reconcile(on_failure), CONF.task_timeout)
        self.runner.reserve()
        try:
            with db.writer(server._context):
                server.begin_task(task_state, task.id, target_id=target_id)
                for record in records:
                    record()
        except Exception:
            self.runner.unreserve()
            raise
        copies = [obj.obj_clone() for obj in views]
        try:
            self.runner.submit(task, reserved=True)
        except exception.ServiceUnavailable as e:
            on_failure(task, e)  # shutting down between the two steps
            raise
        return copies

    def _or_reconcile(self, record):
        """``record`` (a task's on_success or on_failure) or, when saving the
        outcome fails, what start-up recovery does after a crash, at once: a
        database that failed for a moment must not leave the server locked
        until the service restarts."""
        def recorded(task, value):
            try:
                record(task, value)
            except Exception:
                LOG.exception("Saving the outcome of task %s (%s) on server %s "
                              "failed; reconciling it now", task.id, task.name,
                              task.server_id)
                recovery.recover_task(self, task.server_id, task.id)
        return recorded

    def _progress(self, task, record):
        def progress(percent):
            task.check_cancelled()
            try:
                record.set_progress(percent)
            except exception.NotFound:
                pass  # the record went away under an abandoned task
        return progress

    def _release(self, server, task, **values):
        """End ``task``'s hold on ``server``; a later task's lock is left alone."""
        try:
            server.end_task(server.task_state, task.id, **values)
        except exception.Conflict as e:
            LOG.warning("Task %s no longer holds server %s: %s", task.id,
                        server.id, e)

    def _status_after_failure(self, server):
        try:
            return self.driver_for(server).get_server_state(server._context, server)
        except Exception:
            return server.status

    # --- servers ---------------------------------------------------------------------

    def adopt_server(self, context, name, driver_name, hypervisor_ref, project_id):
        driver = self.driver_for(driver_name)
        found = driver.adopt(context, hypervisor_ref)
        existing = server_obj.Server.get_by_ref(context, driver_name, self.host,
                                                found.hypervisor_ref)
        if existing is not None:
            raise exception.AlreadyAdopted(driver=driver_name, ref=hypervisor_ref,
                                           server_id=existing.id)
        server = server_obj.Server(context)
        server.name = name or found.name
        server.project_id = project_id
        server.user_id = context.user_id
        server.driver = driver_name
        server.hypervisor_ref = found.hypervisor_ref
        server.host = self.host
        server.status = found.status
        server.origin = states.ADOPTED
        server.driver_info = found.driver_info
        server.create()
        server.capabilities = driver.get_capabilities(server)
        server.save(expected_task_state=None)
        return server

    def spawn_server(self, context, snapshot, name, linked, power_on):
        source = server_obj.Server.get_by_id(context, snapshot.server_id)
        driver = self.driver_for(source)
        caps = driver.get_capabilities(source)
        if linked and not caps.get("linked_spawn"):
            raise exception.UnsupportedOperation(driver=driver.name,
                                                 verb="spawn_from_snapshot",
                                                 reason="linked clones")
        if snapshot.status != states.AVAILABLE:
            raise exception.SnapshotNotAvailable(snapshot_id=snapshot.id,
                                                 status=snapshot.status,
                                                 verb="spawn")
        new_id = uuidutils.generate_uuid()
        server = server_obj.Server(context)
        server.id = new_id
        server.name = name
        server.project_id = snapshot.project_id
        server.user_id = context.user_id
        server.driver = source.driver
        # A placeholder until the driver names the new object; unique per server.
        server.hypervisor_ref = f"building:{new_id}"
        server.host = self.host
        server.status = states.BUILD
        server.origin = states.SPAWNED
        server.source_snapshot_id = snapshot.id
        server.linked = linked
        server.capabilities = caps
        server.create()

        def work(task):
            failpoints.hit("manager.spawn.before_driver")
            return driver.spawn_from_snapshot(
                context, source, snapshot, server, linked, power_on,
                lambda percent: task.check_cancelled())

        def on_success(task, result):
            failpoints.hit("manager.spawn.before_db_save")
            self._release(server, task, hypervisor_ref=result.hypervisor_ref,
                          status=result.status, driver_info=result.driver_info)

        def on_failure(task, exc):
            LOG.error("Spawning server %s from snapshot %s failed: %s", server.id,
                      snapshot.id, exc)
            self._release(server, task, status=states.SERVER_ERROR,
                          fault=fault_of(exc))

        return self._start_task(server, states.SPAWNING, "spawn", work, on_success,
                                on_failure, target_id=snapshot.id,
                                views=[server])[0]

    def delete_server(self, context, server):
        task_id = uuidutils.generate_uuid()
        server.begin_task(states.DELETING_SERVER, task_id)
        try:
            snapshots = snapshot_obj.ServerSnapshotList.get_all(
                context, server_id=server.id)
            dependents = [s for s in server_obj.ServerList.get_linked_dependents(
                context, [s.id for s in snapshots]) if s.id != server.id]
            if dependents:
                raise exception.Conflict(
                    f"Server {server.id} cannot be deleted: servers "
                    f"{', '.join(s.id for s in dependents)} were spawned as linked "
                    "clones of its snapshots; delete them first.")
            driver = self.driver_for(server)
            if server.origin == states.SPAWNED:
                if not server.hypervisor_ref.startswith("building:"):
                    driver.destroy_server(context, server)
            else:
                driver.forget_server(context, server)
        except Exception as e:
            server.end_task(states.DELETING_SERVER, task_id, fault=fault_of(e)
                            if not isinstance(e, exception.Conflict) else server.fault)
            raise
        server.destroy()

    def revert_server(self, context, server, snapshot, power_on):
        if snapshot.server_id != server.id:
            raise exception.SnapshotNotOfServer(snapshot_id=snapshot.id,
                                                server_id=server.id)
        if snapshot.status != states.AVAILABLE:
            raise exception.SnapshotNotAvailable(snapshot_id=snapshot.id,
                                                 status=snapshot.status,
                                                 verb="revert")
        driver = self.driver_for(server)
        caps = driver.get_capabilities(server)
        if not caps.get("revert_any") and snapshot.id != server.current_snapshot_id:
            raise exception.UnsupportedOperation(
                driver=driver.name, verb="revert_to_snapshot",
                reason="reverting to a snapshot other than the latest")
        driver.validate_revert(server, snapshot)

        def work(task):
            failpoints.hit("manager.revert.before_driver")
            return driver.revert_to_snapshot(context, server, snapshot, power_on,
                                             lambda percent: task.check_cancelled())

        def on_success(task, result):
            failpoints.hit("manager.revert.before_db_save")
            self._release(server, task, status=result.status,
                          current_snapshot_id=snapshot.id, fault=None,
                          **_server_driver_info(result))

        def on_failure(task, exc):
            LOG.error("Reverting server %s to snapshot %s failed: %s", server.id,
                      snapshot.id, exc)
            self._release(server, task, status=self._status_after_failure(server),
                          fault=fault_of(exc))

        self._start_task(server, states.REVERTING, "revert", work, on_success,
                         on_failure, target_id=snapshot.id)

    # --- snapshots ------------------------------------------------------------------

    def create_snapshot(self, context, server, name, description=None,
                        memory=False, quiesce=states.QUIESCE_PREFERRED, kind=None,
                        include_volumes=False):
        driver = self.driver_for(server)
        driver.validate_snapshot_request(server, kind, memory, quiesce,
                                         include_volumes)
        snapshot = snapshot_obj.ServerSnapshot(context)
        snapshot.id = uuidutils.generate_uuid()
        snapshot.server_id = server.id
        snapshot.project_id = server.project_id
        snapshot.user_id = context.user_id
        snapshot.name = name
        snapshot.description = description
        snapshot.status = states.CREATING
        snapshot.memory = memory
        snapshot.quiesce = quiesce
        snapshot.kind = kind
        snapshot.include_volumes = include_volumes
        snapshot.parent_id = server.current_snapshot_id

        def work(task):
            failpoints.hit("manager.create.before_driver")
            if include_volumes:
                server_volumes.make_cinder_snapshots(self.volume_api, driver,
                                                     server, snapshot)
            return driver.create_snapshot(context, server, snapshot,
                                          self._progress(task, snapshot))

        def on_success(task, result):
            failpoints.hit("manager.create.before_db_save")
            # One transaction: a crash cannot leave the snapshot available
            # but the lock held and the server's current snapshot not moved.
            with db.writer(server._context):
                snapshot.transition(states.CREATE_DONE, progress=100,
                                    kind=result.kind,
                                    consistency=result.consistency,
                                    frozen_ms=result.frozen_ms,
                                    paused_ms=result.paused_ms,
                                    size_bytes=result.size_bytes,
                                    memory=result.memory, disks=result.disks,
                                    volumes=result.volumes,
                                    driver_info=result.driver_info)
                self._release(server, task, current_snapshot_id=snapshot.id,
                              **_server_driver_info(result))
            if result.volumes:
                server_volumes.finalise(self.volume_api, server.project_id,
                                        result.volumes, server_volumes.AVAILABLE)

        def on_failure(task, exc):
            LOG.error("Snapshot %s of server %s failed: %s", snapshot.id,
                      server.id, exc)
            try:
                snapshot.transition(states.CREATE_FAILED, fault=fault_of(exc))
            except exception.Conflict as e:
                LOG.warning("Snapshot %s moved on before its failure was "
                            "recorded: %s", snapshot.id, e)
            self._release(server, task, status=self._status_after_failure(server))
            if snapshot.volumes:
                server_volumes.finalise(self.volume_api, server.project_id,
                                        snapshot.volumes, server_volumes.ERROR)

        return self._start_task(server, states.SNAPSHOTTING, "create_snapshot", work,
                                on_success, on_failure, target_id=snapshot.id,
                                records=[snapshot.create], views=[snapshot])[0]

    def _check_no_dependents(self, context, snapshot):
        """409 while a linked clone reads this snapshot's data: one spawned
        from it, or from a later snapshot of its branch (whose layers rest on
        this snapshot's)."""
        children = {}
        for other in snapshot_obj.ServerSnapshotList.get_all(
                context, server_id=snapshot.server_id):
            children.setdefault(other.parent_id, []).append(other.id)
        branch, todo = [], [snapshot.id]
        while todo:
            current = todo.pop()
            branch.append(current)
            todo.extend(children.get(current, []))
        dependents = server_obj.ServerList.get_linked_dependents(context, branch)
        if dependents:
            raise exception.SnapshotInUse(
                snapshot_id=snapshot.id,
                dependents=", ".join(
                    f"server {s.id} ({s.name}, spawned from snapshot "
                    f"{s.source_snapshot_id})" for s in dependents))

    def delete_snapshot(self, context, server, snapshot):
        self._check_no_dependents(context, snapshot)
        # Refuse a delete the state machine does not allow before taking the lock.
        states.next_snapshot_status(snapshot.id, snapshot.status, states.DELETE)
        driver = self.driver_for(server)

        def work(task):
            failpoints.hit("manager.delete.before_driver")
            return driver.delete_snapshot(context, server, snapshot,
                                          self._progress(task, snapshot))

        def on_success(task, result):
            failpoints.hit("manager.delete.before_db_save")
            # One transaction: a crash cannot leave the row gone but the
            # server's current snapshot naming it.
            with db.writer(server._context):
                self._forget_snapshot(server, snapshot, result)
                self._release(server, task,
                              **self._current_after_delete(server, snapshot),
                              **_server_driver_info(result))

        def on_failure(task, exc):
            LOG.error("Deleting snapshot %s of server %s failed: %s", snapshot.id,
                      server.id, exc)
            try:
                snapshot.transition(states.DELETE_FAILED, fault=fault_of(exc))
            except exception.Conflict as e:
                LOG.warning("Snapshot %s moved on before its failure was "
                            "recorded: %s", snapshot.id, e)
            self._release(server, task, status=self._status_after_failure(server))

        return self._start_task(
            server, states.DELETING_SNAPSHOT, "delete_snapshot", work, on_success,
            on_failure, target_id=snapshot.id,
            records=[lambda: snapshot.transition(states.DELETE, fault=None,
                                                 progress=0)],
            views=[snapshot])[0]

    def _forget_snapshot(self, server, snapshot, result=None):
        """Remove a deleted snapshot's row; its children move to its parent,
        and snapshots whose data the driver moved record where it is now."""
        moved = getattr(result, "snapshot_driver_info", None) or {}
        with db.writer(server._context):
            db.snapshot_reparent(server._context, server.id, snapshot.id,
                                 snapshot.parent_id)
            for snapshot_id, driver_info in moved.items():
                db.snapshot_update(server._context, snapshot_id,
                                   {"driver_info": driver_info})
            snapshot.transition(states.DELETE_DONE)

    @staticmethod
    def _current_after_delete(server, snapshot):
        if server.current_snapshot_id == snapshot.id:
            return {"current_snapshot_id": snapshot.parent_id}
        return {}

    def export_snapshot(self, context, server, snapshot, image_name, disk_format):
        if snapshot.status != states.AVAILABLE:
            raise exception.SnapshotNotAvailable(snapshot_id=snapshot.id,
                                                 status=snapshot.status,
                                                 verb="export")
        driver = self.driver_for(server)
        if not driver.get_capabilities(server).get("export"):
            raise exception.UnsupportedOperation(driver=driver.name,
                                                 verb="export_snapshot")
        image = image_obj.Image(context)
        image.id = uuidutils.generate_uuid()
        image.snapshot_id = snapshot.id
        image.project_id = snapshot.project_id
        image.name = image_name
        image.disk_format = disk_format
        image.status = states.IMAGE_SAVING
        store = self.image_store

        def work(task):
            failpoints.hit("manager.export.before_driver")
            dest = store.staging_path(image.id, disk_format)
            result = driver.export_snapshot(context, server, snapshot, dest,
                                            disk_format, self._progress(task, image))
            failpoints.hit("manager.export.before_rename")
            return result, store.commit(image.id, disk_format)

        def on_success(task, outcome):
            failpoints.hit("manager.export.before_db_save")
            result, location = outcome
            image.status = states.IMAGE_ACTIVE
            image.progress = 100
            image.size_bytes = result.size_bytes
            image.sha256 = result.sha256
            image.location = location
            image.save()
            self._release(server, task)

        def on_failure(task, exc):
            LOG.error("Exporting snapshot %s failed: %s", snapshot.id, exc)
            store.discard(image.id, disk_format)
            image.status = states.IMAGE_ERROR
            image.fault = fault_of(exc)
            image.save()
            self._release(server, task)

        return self._start_task(server, states.EXPORTING, "export_snapshot", work,
                                on_success, on_failure, target_id=snapshot.id,
                                records=[image.create], views=[image])[0]

    # --- Cinder's assisted volume snapshots (assisted_volumes.py) ---------------

    def volume_snapshot_create(self, context, volume_id, create_info):
        return assisted_volumes.create(self, context, volume_id, create_info)

    def volume_snapshot_delete(self, context, snapshot_id, delete_info):
        assisted_volumes.delete(self, context, snapshot_id, delete_info)

"""The compute manager: the host side of the seam (docs/architecture.md).

It is the RPC endpoint of one compute service (topic ``nativesnap-compute``,
server = its ``[DEFAULT] host``) and the only place drivers run. The API
side has checked and recorded a request and taken the server's task lock;
the manager reserves the task's place and runs the driver's validation when
asked (``prepare_task``, a call), runs the task when told (a cast), and
records the outcome through objects; it never touches the database itself.

Between tasks it keeps the records true to the hypervisor: drivers report
changes as events (a guest stopped from outside, a disk attached), and a
periodic sync reads every server's state and attached volumes, so the API
answers from the record without asking any driver. It also fails tasks whose
wait for an outside event passed its deadline, and reconciles tasks whose
cast never arrived.
"""

import datetime
import queue
import threading
import time

import oslo_messaging as messaging
from oslo_log import log as logging
from oslo_utils import timeutils

from nativesnap.common import rpc
from nativesnap.common import states
from nativesnap.compute import assisted_volumes
from nativesnap.compute import flatten
from nativesnap.compute import queued_requests
from nativesnap.compute import queues
from nativesnap.compute import recovery
from nativesnap.compute import ring
from nativesnap.compute import rpcapi
from nativesnap.compute import sync
from nativesnap.compute import task_runner
from nativesnap.compute import tasks
from nativesnap.conf import CONF
from nativesnap import exception
from nativesnap import image as image_stores
from nativesnap import objects
from nativesnap.objects import baremetal_node as node_obj
from nativesnap.objects import image as image_obj
from nativesnap.objects import server as server_obj
from nativesnap.objects import volume_operation as operation_obj
from nativesnap.scheduler import runner as scheduler_runner
from nativesnap.virt import driver as virt_driver

LOG = logging.getLogger(__name__)

objects.register_all()

# How often waits are checked against their deadline.
WAIT_CHECK_SECONDS = 1.0
EVENT_QUEUE_SIZE = 10000


class ComputeManager:
    target = messaging.Target(version=rpcapi.RPC_API_VERSION)

    def __init__(self, host=None, drivers=None, runner=None, image_store=None,
                 volume_api=None):
        self.host = host or CONF.host
        self.drivers = drivers if drivers is not None else {
            name: virt_driver.load_driver(name) for name in CONF.enabled_drivers}
        self.runner = runner or task_runner.TaskRunner(
            workers=CONF.task_workers, queue_size=CONF.task_queue_size,
            cancel_grace=CONF.task_cancel_grace,
            reservation_ttl=2 * CONF.rpc_response_timeout)
        self.image_store = image_store or image_stores.load_store()
        self._volume_api = volume_api
        self.broken_drivers = {}  # name -> why it could not start
        self.sync = sync.Sync(self)
        self._stop = threading.Event()
        self._kick = threading.Event()  # a task ended: start what waits
        self.queues = queues.ServerQueues(
            lambda task, reservation: self.runner.submit(task,
                                                         reservation=reservation),
            on_done=lambda task: self._kick.set())
        self.scheduler = scheduler_runner.Scheduler(
            self.host, None, self.free_space)
        self._threads = []
        self._events = queue.Queue(maxsize=EVENT_QUEUE_SIZE)
        self._rpc_server = None
        self._lock = threading.Lock()
        self._deleting = set()  # task ids of server deletes being served
        self._other_stores = {}  # backend -> image store, see store_for
        self.flattener = flatten.Flattener(self)
        self.membership = ring.Membership(self)
        for driver in self.drivers.values():
            driver.register_node_lookup(self.lookup_node)

    @property
    def volume_api(self):
        """Cinder, made on first use: most deployments never call it."""
        if self._volume_api is None:
            from nativesnap.volume import cinder
            self._volume_api = cinder.CinderAPI()
        return self._volume_api

    @staticmethod
    def lookup_node(context, ref):
        """The bare-metal node ``ref`` (id or name) for a driver: a NodeInfo."""
        try:
            node = node_obj.BaremetalNode.get_by_ref(context, ref)
        except exception.NotFound:
            raise exception.HypervisorObjectNotFound(
                driver=node_obj.DRIVER, what="enrolled node", ref=ref) from None
        return virt_driver.NodeInfo(
            id=node.id, name=node.name, agent_url=node.agent_url,
            agent_token=node.agent_token,
            root_device_hint=node.root_device_hint,
            power_interface=node.power_interface,
            redfish_address=node.redfish_address,
            redfish_system_id=node.redfish_system_id,
            redfish_username=node.redfish_username,
            redfish_password=node.redfish_password,
            redfish_verify_ca=node.redfish_verify_ca)

    # --- start-up and shutdown -----------------------------------------------

    def init_host(self, context):
        """Connect the drivers, finish what a crash interrupted, and read
        what changed on the hypervisors while the service was down."""
        for name in self.drivers:
            self._start_driver(name)
        self.image_store.ensure()
        recovery.recover(self, context)
        self.flattener.resume(context)
        self.sync.all(context)

    def _start_driver(self, name):
        try:
            self.drivers[name].init_host(self.host)
        except Exception as e:
            reason = getattr(e, "message", None) or str(e) or type(e).__name__
            if self.broken_drivers.get(name) != reason:
                LOG.error("The %s driver could not start: %s. Its servers are "
                          "shown ERROR and its requests refused until it "
                          "starts; that is tried again at every sync.", name,
                          reason)
            self.broken_drivers[name] = reason
            return
        if self.broken_drivers.pop(name, None) is not None:
            LOG.info("The %s driver started", name)

    def retry_broken_drivers(self):
        for name in list(self.broken_drivers):
            self._start_driver(name)

    def start(self, context, sync_interval=None):
        """Serve RPC and run the periodic work (status sync every
        ``sync_interval`` s, 0 for never; events; waits; lost casts)."""
        if sync_interval is None:
            sync_interval = CONF.status_sync_interval
        for name, driver in self.drivers.items():
            driver.register_event_listener(
                lambda event, name=name: self._queue_event(name, event))
        self._rpc_server = rpc.get_server(
            messaging.Target(topic=rpcapi.TOPIC, server=self.host), [self])
        self._rpc_server.start()
        self.membership.start(context)
        if self.scheduler.compute_api is None:
            # The compute service asks the API side like a user would: its
            # scheduled and queued requests take the same checks and locks.
            from nativesnap.compute import api as compute_api
            self.scheduler.set_compute_api(compute_api.API())
        for name, target in (("events", self._event_loop),
                             ("periodic", self._periodic_loop),
                             ("scheduler", self._scheduler_loop)):
            thread = threading.Thread(target=target, args=(context, sync_interval),
                                      name=f"nativesnap-compute-{name}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop_serving(self):
        """Stop taking RPC requests and the periodic work."""
        self._stop.set()
        self._kick.set()
        self.membership.stop()
        if self._rpc_server is not None:
            self._rpc_server.stop()
            self._rpc_server.wait()
            self._rpc_server = None
        for thread in self._threads:
            thread.join(5)
        self._threads = []

    def shutdown(self, timeout):
        """Stop taking work, wait up to ``timeout`` s for running tasks;
        the tasks still running are returned (start-up recovery's)."""
        self.stop_serving()
        left = self.runner.shutdown(timeout)
        for task in left:
            LOG.warning("Task %s (%s) on server %s still running at shutdown; "
                        "start-up recovery will finish or roll it back",
                        task.id, task.name, task.server_id)
        self.flattener.stop()
        for driver in self.drivers.values():
            driver.cleanup_host()
        return left

    # --- helpers of the tasks ----------------------------------------------------

    def driver_for(self, server_or_name):
        name = getattr(server_or_name, "driver", server_or_name)
        if name in self.broken_drivers:
            raise exception.DriverUnavailable(driver=name,
                                              reason=self.broken_drivers[name])
        try:
            return self.drivers[name]
        except KeyError:
            raise exception.DriverNotEnabled(
                driver=name, enabled=", ".join(sorted(self.drivers)) or "none"
            ) from None

    def recorded(self, record):
        """``record`` (a task's outcome handler) or, when saving the outcome
        fails, what start-up recovery does after a crash, at once: a
        database that failed for a moment must not leave the server locked
        until the service restarts."""
        def record_or_reconcile(task, value):
            try:
                record(task, value)
            except Exception:
                LOG.exception("Saving the outcome of task %s (%s) on server %s "
                              "failed; reconciling it now", task.id, task.name,
                              task.server_id)
                recovery.recover_task(self, task.server_id, task.id)
        return record_or_reconcile

    def store_for(self, image):
        """The image store that holds ``image`` (the configured one, or the
        one it was exported to before ``[image] backend`` changed)."""
        backend = image.backend or self.image_store.backend
        if backend == self.image_store.backend:
            return self.image_store
        with self._lock:
            if backend not in self._other_stores:
                self._other_stores[backend] = image_stores.load_store(backend)
            return self._other_stores[backend]

    def discard_export(self, context, image):
        """Remove what a failed or interrupted export left in its store and
        say in ``image.store_ref`` whether something remains (the caller
        saves). A failure is logged, not raised: the export's own fault is
        what matters, and ``retry_discards`` tries again."""
        try:
            self.remove_clone(context, image)
            image.store_ref = self.store_for(image).discard(context, image)
        except Exception as e:
            LOG.error("Could not remove what export %s left in the %s image "
                      "store (tried again every [image] "
                      "discard_retry_interval s): %s", image.id, image.backend,
                      getattr(e, "message", None) or e)

    def retry_discards(self, context):
        """Failed exports of this host whose store could not be cleaned up
        when they failed (Glance was down): try again."""
        for image in image_obj.ImageList.get_by_status(
                context, (states.IMAGE_ERROR,), host=self.host):
            if not self.store_for(image).pending_discard(image):
                continue
            self.discard_export(context, image)
            if not self.store_for(image).pending_discard(image):
                LOG.info("Removed what failed export %s left in the %s image "
                         "store", image.id, image.backend)
                image.save()

    @staticmethod
    def holds_lock(server, task_id):
        """Whether ``task_id`` still holds ``server``'s lock (read afresh)."""
        server.refresh()
        return server.task_id == task_id

    @staticmethod
    def record_wait(task, runner_task, waiting):
        """The driver waits for an outside event: keep the lock, in the
        task's wait state, with its deadline and what it needs to carry on."""
        server = task.server
        until = timeutils.utcnow() + datetime.timedelta(seconds=waiting.timeout)
        server.wait_task(server.task_state, runner_task.id, until, {
            "reason": waiting.reason, "timeout": waiting.timeout,
            "data": waiting.data, "args": task.args})
        LOG.info("Task %s (%s) on server %s waits up to %s s for %s",
                 runner_task.id, task.name, server.id, waiting.timeout,
                 waiting.reason)

    # --- RPC: servers -----------------------------------------------------------

    @messaging.expose
    @messaging.expected_exceptions(exception.NativesnapException)
    def adopt_server(self, context, driver, hypervisor_ref):
        """What the hypervisor holds as ``hypervisor_ref``: an unsaved Server
        with its facts, and its attached volumes ({volume id: device})."""
        drv = self.driver_for(driver)
        found = drv.adopt(context, hypervisor_ref)
        server = server_obj.Server(context)
        server.driver = driver
        server.host = self.host
        server.hypervisor_ref = found.hypervisor_ref
        server.name = found.name
        server.status = found.status
        server.driver_info = found.driver_info
        server.provision_state = found.provision_state
        server.capabilities = drv.get_capabilities(server)
        return {"server": server, "volumes": sync.attached_volumes(
            context, drv, server) or {}}

    @messaging.expose
    @messaging.expected_exceptions(exception.NativesnapException)
    def delete_server(self, context, server):
        """Destroy a spawned server (forget an adopted one) and its records;
        the API side holds its lock (``deleting``)."""
        with self._lock:
            self._deleting.add(server.task_id)
        try:
            self._delete_server(context, server)
        finally:
            with self._lock:
                self._deleting.discard(server.task_id)

    def _delete_server(self, context, server):
        try:
            driver = self.driver_for(server)
            if server.origin == states.SPAWNED:
                if not server.hypervisor_ref.startswith("building:"):
                    driver.destroy_server(context, server)
            else:
                driver.forget_server(context, server)
        except Exception as e:
            LOG.error("Deleting server %s failed: %s", server.id, e)
            server.end_task(states.DELETING_SERVER, server.task_id,
                            fault=exception.fault_of(e))
            raise
        server.destroy()

    # --- RPC: tasks ----------------------------------------------------------------

    @messaging.expose
    @messaging.expected_exceptions(exception.NativesnapException)
    def prepare_task(self, context, server, task_state, snapshot=None,
                     request=None):
        """Refuse what the driver would refuse, then reserve the task's place
        in the pool (503 when full): the token its cast brings back."""
        driver = self.driver_for(server)
        request = request or {}
        if task_state == states.EXPORTING:
            self.image_store.validate_export(
                context, snapshot.project_id, request["disk_format"],
                request.get("image_ref"))
        elif task_state == states.SNAPSHOTTING:
            driver.validate_snapshot_request(
                server, request.get("kind"), request["memory"],
                request["quiesce"], request["include_volumes"])
        elif task_state == states.REVERTING:
            driver.validate_revert(server, snapshot)
        elif task_state in assisted_volumes.TASKS:
            assisted_volumes.validate(driver, context, server, task_state,
                                      request)
        return self.runner.reserve()

    @messaging.expose
    @messaging.expected_exceptions(exception.NativesnapException)
    def delete_image(self, context, image):
        """Remove an export from its store, then its record."""
        if image.status == states.IMAGE_SAVING:
            raise exception.Conflict(f"Image {image.id} is still being saved; "
                                     "delete it once its export has ended.")
        if image.flatten_progress is not None and image.flatten_progress < 100:
            raise exception.Conflict(
                f"Image {image.id} is being flattened ({image.flatten_progress} "
                "%); delete it once flatten_progress is 100.")
        self.remove_clone(context, image)
        self.store_for(image).delete(context, image)
        image.destroy()

    def remove_clone(self, context, image):
        """Remove the clone an export by clone made for ``image`` (whichever
        enabled driver made it)."""
        store = self.store_for(image)
        if image.location:
            scheme = image.location.partition("://")[0]
            if scheme not in store.location_schemes:
                return  # a file or an upload
        elif not (store.location_schemes and image.disk_format == "raw"):
            return  # clones are raw, recorded only by such stores
        for name, driver in self.drivers.items():
            if name not in self.broken_drivers and driver.remove_clone(context,
                                                                       image.id):
                return

    @messaging.expose
    def release_reservation(self, context, reservation):
        self.runner.unreserve(reservation)

    @messaging.expose
    def create_snapshot(self, context, server, snapshot, reservation):
        tasks.CreateSnapshot(self, context, server, snapshot).start(reservation)

    @messaging.expose
    def delete_snapshot(self, context, server, snapshot, reservation):
        tasks.DeleteSnapshot(self, context, server, snapshot).start(reservation)

    @messaging.expose
    def revert_server(self, context, server, snapshot, power_on, reservation):
        tasks.Revert(self, context, server, snapshot,
                     power_on=power_on).start(reservation)

    @messaging.expose
    def spawn_server(self, context, server, snapshot, linked, power_on,
                     reservation):
        tasks.Spawn(self, context, server, snapshot, linked=linked,
                    power_on=power_on).start(reservation)

    @messaging.expose
    def export_snapshot(self, context, server, snapshot, image, reservation):
        tasks.Export(self, context, server, snapshot,
                     image_id=image.id).start(reservation)

    @messaging.expose
    def volume_snapshot_task(self, context, server, operation, reservation):
        """Cinder's assisted snapshot create or delete (``operation``)."""
        assisted_volumes.task_for(self, context, server, operation).start(
            reservation)

    @messaging.expose
    def resume_task(self, context, server, event):
        """The event a waiting task waits for came: carry it on."""
        server.refresh()
        if server.task_state not in states.RUNNING_STATE_OF:
            LOG.warning("Server %s has no waiting task (task_state %s); the "
                        "event is dropped", server.id, server.task_state)
            return
        info = server.task_wait_info or {}
        task = tasks.rebuild(self, context, server)
        try:
            server.resume_task(server.task_id)
        except exception.Conflict as e:
            LOG.warning("The wait of server %s ended before its event: %s",
                        server.id, e)
            return
        LOG.info("Task %s (%s) on server %s resumed", server.task_id, task.name,
                 server.id)
        task.resume(info.get("data") or {}, event)

    @messaging.expose
    def abort_task(self, context, server):
        """The user gives up a task that waits for an outside event (a
        bare-metal node's agent that does not heartbeat): it fails now, with
        a fault saying so, as its deadline would have failed it."""
        server.refresh()
        if server.task_state not in states.RUNNING_STATE_OF:
            LOG.warning("Server %s has no waiting task to abort (task_state "
                        "%s)", server.id, server.task_state)
            return
        task = tasks.rebuild(self, context, server)
        try:
            server.resume_task(server.task_id,
                               provision_event=states.PROVISION_ABORT)
        except exception.Conflict as e:
            LOG.warning("The wait of server %s ended before its abort: %s",
                        server.id, e)
            return
        LOG.info("Task %s (%s) on server %s aborted by the user",
                 server.task_id, task.name, server.id)
        task.fail_now(exception.TaskAborted(task=task.name,
                                            server_id=server.id))

    # --- keeping the records true to the hypervisor ----------------------------

    def _queue_event(self, driver_name, event):
        """Called on a driver's event thread: hand over, never block."""
        try:
            self._events.put_nowait((driver_name, event))
        except queue.Full:
            LOG.warning("Hypervisor events come faster than they are recorded; "
                        "dropping one (the periodic sync catches up)")

    def _event_loop(self, context, _interval):
        while not self._stop.is_set():
            try:
                driver_name, event = self._events.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self.handle_event(context, driver_name, event)
            except Exception:
                LOG.exception("Recording hypervisor event %s failed", event)

    def handle_event(self, context, driver_name, event):
        server = server_obj.Server.get_by_ref(context, driver_name, self.host,
                                              event.hypervisor_ref)
        if server is not None:
            self.sync_server(context, server,
                             volumes=event.kind == virt_driver.EVENT_VOLUMES)

    def sync_server(self, context, server, volumes=True):
        """Record what the hypervisor shows of ``server`` (sync.py)."""
        self.sync.server(context, server, volumes=volumes)

    def sync_servers(self, context):
        self.sync.all(context)

    def check_waits(self, context):
        """Fail the tasks whose wait for an outside event or for their turn
        on their server ran out."""
        self.queues.expire()
        now = timeutils.utcnow(with_timezone=True)
        for server in server_obj.ServerList.get_waiting(context, self.host):
            if server.task_wait_until > now:
                continue
            info = server.task_wait_info or {}
            task = tasks.rebuild(self, context, server)
            try:
                # the deadline wins the lock
                server.resume_task(server.task_id,
                                   provision_event=states.PROVISION_FAIL)
            except exception.Conflict:
                continue  # its event came just now
            task.fail_now(exception.TaskWaitTimeout(
                task=task.name, server_id=server.id,
                timeout=info.get("timeout"), reason=info.get("reason")))

    def check_orphaned_tasks(self, context, grace):
        """Reconcile locks whose task this service never got (a cast lost
        with a broker, or an API that died between its records and its
        cast), as start-up recovery would."""
        limit = timeutils.utcnow(with_timezone=True) - datetime.timedelta(
            seconds=grace)
        for server in server_obj.ServerList.get_busy(context, self.host):
            with self._lock:
                deleting = server.task_id in self._deleting
            if (server.task_state in states.RUNNING_STATE_OF or deleting
                    or server.task_started_at is None
                    or server.task_started_at > limit
                    or self.knows(server.task_id)):
                continue
            LOG.warning("Task %s (%s) of server %s never reached this service; "
                        "reconciling it", server.task_id, server.task_state,
                        server.id)
            recovery.recover_task(self, server.id, server.task_id,
                                  why=recovery.NEVER_STARTED)
        for op in operation_obj.AssistedVolumeOperationList.get_in_flight(
                context, host=self.host):
            if (op.status == states.VOLUME_OP_QUEUED and op.created_at <= limit
                    and not self.knows(op.id)):
                assisted_volumes.never_started(self, op, recovery.NEVER_STARTED)

    def knows(self, task_id):
        """True while task ``task_id`` waits for its turn, queues or runs."""
        return self.queues.knows(task_id) or self.runner.knows(task_id)

    def free_space(self, context, server):
        """The free space where ``server``'s next snapshot would land, as
        its driver reports it (None: unknown)."""
        return self.driver_for(server).free_space(context, server)

    def _scheduler_loop(self, context, _interval):
        """Start queued requests as soon as a task ends (and every second);
        every ``[scheduler] run_interval`` s the snapshot policies' run and
        the retries of failed deletes (docs/scheduler.md)."""
        next_run = time.monotonic() + min(5.0, CONF.scheduler.run_interval)
        api = self.scheduler.compute_api
        while not self._stop.is_set():
            self._kick.wait(max(0.0, min(WAIT_CHECK_SECONDS,
                                         next_run - time.monotonic())))
            self._kick.clear()
            if self._stop.is_set():
                return
            try:
                queued_requests.start_all(api, context, self.host)
                if CONF.scheduler.enabled:
                    self.scheduler.prune(context)
                if time.monotonic() >= next_run:
                    next_run = time.monotonic() + CONF.scheduler.run_interval
                    if CONF.scheduler.enabled:
                        self.scheduler.run(context)
                    self.scheduler.retry_deletes(context)
            except Exception:
                LOG.exception("The scheduler of the compute service failed")

    def _periodic_loop(self, context, sync_interval):
        """Every second the waits; every ``sync_interval`` s (unless 0) the
        records; every twice ``rpc_response_timeout`` the lost casts."""
        orphan_grace = 2 * CONF.rpc_response_timeout
        jobs = [(WAIT_CHECK_SECONDS, lambda: self.check_waits(context)),
                (orphan_grace,
                 lambda: self.check_orphaned_tasks(context, orphan_grace))]
        if sync_interval > 0:
            jobs.append((sync_interval, lambda: self.sync_servers(context)))
        jobs.append((CONF.image.discard_retry_interval,
                     lambda: self.retry_discards(context)))
        next_run = [time.monotonic() + every for every, _ in jobs]
        while not self._stop.wait(WAIT_CHECK_SECONDS):
            for index, (every, work) in enumerate(jobs):
                if time.monotonic() < next_run[index]:
                    continue
                next_run[index] = time.monotonic() + every
                try:
                    work()
                except Exception:
                    LOG.exception("Periodic work of the compute service failed")

"""The API side of the seam (docs/architecture.md): what a request may do.

The REST controllers ask this class, never a driver. It checks a request
against the state machines and the records (the capabilities recorded for
the server included), records what is accepted — the server's task lock
taken by compare-and-swap together with the task's records, in one
transaction — and hands the work to the server's compute service through the
RPC API. A task costs one call (the compute service's driver validates the
request and reserves the task's place, so a full pool answers 503 before
anything is recorded) and one cast; the request answers at once.
"""

import contextlib
import datetime
import functools

from oslo_log import log as logging
from oslo_utils import timeutils
from oslo_utils import uuidutils

from nativesnap.common import states
from nativesnap.compute import hosts
from nativesnap.compute import queued_requests
from nativesnap.compute import rpcapi as compute_rpcapi
from nativesnap.conf import CONF
from nativesnap import exception
from nativesnap import objects
from nativesnap.objects import base as obj_base
from nativesnap.objects import baremetal_node as node_obj
from nativesnap.objects import image as image_obj
from nativesnap.objects import queued_request as queued_obj
from nativesnap.objects import quota
from nativesnap.objects import server as server_obj
from nativesnap.objects import service as service_obj
from nativesnap.objects import snapshot as snapshot_obj
from nativesnap.objects import volume_attachment as attachment_obj
from nativesnap.objects import volume_operation as operation_obj

LOG = logging.getLogger(__name__)

objects.register_all()


class API:
    def __init__(self, rpcapi=None):
        self.compute_rpcapi = rpcapi or compute_rpcapi.ComputeAPI()

    def _start_task(self, context, server, task_state, cast, target_id=None,
                    snapshot=None, request=None, records=(),
                    provision_event=None):
        """Have the compute service accept the task (its driver's checks, a
        place in its pool), then take ``server``'s task lock and write
        ``records`` in one transaction, then cast the work with the place.
        ``provision_event`` moves a bare-metal server's provision state
        instead of the task's own event (a retry)."""
        with self._reservation(context, server, task_state, snapshot=snapshot,
                               request=request) as reservation:
            with obj_base.transaction(context):
                server.begin_task(task_state, uuidutils.generate_uuid(),
                                  target_id=target_id,
                                  provision_event=provision_event)
                for record in records:
                    record()
        cast(reservation)

    @contextlib.contextmanager
    def _reservation(self, context, server, task_state, snapshot=None,
                     request=None):
        """The compute service's acceptance of the task (its driver's
        checks, a place in its pool): its token, given back to the compute
        service when the block fails."""
        hosts.check(context, server.host)
        reservation = self.compute_rpcapi.prepare_task(
            context, server, task_state, snapshot=snapshot, request=request)
        try:
            yield reservation
        except Exception:
            self.compute_rpcapi.release_reservation(context, server.host,
                                                    reservation)
            raise

    # --- servers ---------------------------------------------------------------------

    def adopt_server(self, context, name, driver_name, hypervisor_ref,
                     project_id, host=None):
        """Adopt what ``host``'s compute service (or, without ``host``, the
        one that has it) finds as ``hypervisor_ref``."""
        server_id = uuidutils.generate_uuid()
        candidates, host_free = hosts.adopting(context, driver_name, server_id,
                                               host)
        found = self._find_on_hosts(context, driver_name, hypervisor_ref,
                                    candidates)
        server = found["server"]
        # A host-free server may be on any host by now; others are per host.
        existing = (server_obj.ServerList.get_by_refs(
            context, driver_name, [server.hypervisor_ref]) if host_free else
            [server_obj.Server.get_by_ref(context, driver_name, server.host,
                                          server.hypervisor_ref)])
        existing = next((s for s in existing if s is not None), None)
        if existing is not None:
            raise exception.AlreadyAdopted(driver=driver_name, ref=hypervisor_ref,
                                           server_id=existing.id)
        server.id = server_id
        server.name = name or server.name
        server.project_id = project_id
        server.user_id = context.user_id
        server.origin = states.ADOPTED
        server.create()
        server.set_volume_attachments(found["volumes"])
        return server

    def _find_on_hosts(self, context, driver, hypervisor_ref, candidates):
        """Ask each of ``candidates`` in turn for ``hypervisor_ref``: the
        first that has it adopts it. When none has it, the not-found of
        the last (400) — unless one did not answer (503: it may have it)."""
        silent = missing = None
        for host in candidates:
            try:
                return self.compute_rpcapi.adopt_server(
                    context, driver, hypervisor_ref, host=host)
            except exception.HypervisorObjectNotFound as e:
                missing = e
            except exception.ComputeUnavailable as e:
                silent = e
        raise silent or missing

    def spawn_server(self, context, snapshot, name, linked, power_on,
                     node=None):
        """A new server from ``snapshot``; a bare-metal one on ``node`` (a
        node's id or name) or on the first free enrolled node."""
        source = server_obj.Server.get_by_id(context, snapshot.server_id)
        caps = dict(source.capabilities or {})
        if node is not None and source.driver != node_obj.DRIVER:
            raise exception.UnsupportedOperation(
                driver=source.driver, verb="spawn_from_snapshot",
                reason="choosing a bare-metal node ('node' is for servers of "
                       f"the {node_obj.DRIVER} driver)")
        if linked and not caps.get("linked_spawn"):
            raise exception.UnsupportedOperation(driver=source.driver,
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
        server.host = source.host
        server.status = states.BUILD
        server.origin = states.SPAWNED
        server.source_snapshot_id = snapshot.id
        server.linked = linked
        server.capabilities = caps
        on_node = None
        if source.driver == node_obj.DRIVER:
            on_node = self._choose_node(context, server, node)
        # The record is inserted holding the spawn's task lock (one INSERT,
        # never a BUILD record without its task), once the compute service
        # has accepted the task; the cast follows.
        with self._reservation(context, server, states.SPAWNING) as reservation:
            create = functools.partial(server.create, states.SPAWNING,
                                       uuidutils.generate_uuid(),
                                       target_id=snapshot.id)
            if on_node is not None:
                self._create_on_node(server, on_node, create)
            else:
                create()
        try:
            self.compute_rpcapi.spawn_server(context, server, snapshot, linked,
                                             power_on, reservation)
        except Exception:
            server.destroy()  # refused: no BUILD record is left behind
            raise
        return server

    def _choose_node(self, context, server, ref):
        """Place the new bare-metal ``server`` on the node named ``ref``, or
        on the first free one: its hypervisor_ref is the node's id, its
        provision state ``deploying``. Returns the node."""
        if ref is not None:
            node = self._named_node(context, ref)
            taken = self.node_servers(context, [node])
            if taken:
                raise exception.NodeInUse(node=f"{node.id} ({node.name})",
                                          server_id=taken[node.id])
        else:
            node = self._free_node(context, server.name)
        server.hypervisor_ref = node.id
        server.provision_state = states.PROVISION_DEPLOYING
        return node

    @staticmethod
    def _create_on_node(server, node, create):
        """``create()`` the record of ``server``, placed on ``node``. The
        unique (driver, host, hypervisor_ref) of servers lets one of two
        spawns racing for a node in: the other is the same 409 as a node
        found taken."""
        try:
            create()
        except exception.AlreadyAdopted as e:
            raise exception.NodeInUse(node=f"{node.id} ({node.name})",
                                      server_id=e.kwargs.get("server_id"))
        LOG.info("Server %s spawns on bare-metal node %s (%s)", server.id,
                 node.id, node.name)

    @staticmethod
    def _named_node(context, ref):
        try:
            return node_obj.BaremetalNode.get_by_ref(context, ref)
        except exception.NotFound:
            raise exception.ValidationError(
                where="server/node",
                reason=f"no bare-metal node has the id or name '{ref}'; see "
                       "GET /v1/baremetal/nodes") from None

    def _free_node(self, context, name):
        """The first enrolled node (oldest first) that serves no server."""
        nodes = list(node_obj.BaremetalNodeList.get_all(
            context, sort_key="created_at", sort_dir="asc"))
        taken = self.node_servers(context, nodes)
        for node in nodes:
            if node.id not in taken:
                return node
        raise exception.NoFreeNode(name=name)

    def delete_server(self, context, server):
        if server.flatten_progress is not None and server.flatten_progress < 100:
            raise exception.Conflict(
                f"Server {server.id}'s disk is being flattened "
                f"({server.flatten_progress} %); delete it once "
                "flatten_progress is 100.")
        hosts.check(context, server.host)
        server.begin_task(states.DELETING_SERVER, uuidutils.generate_uuid())
        try:
            self._check_no_linked_clones(context, server)
            self._check_no_volume_operations(context, server)
        except Exception:
            server.end_task(states.DELETING_SERVER, server.task_id)
            raise
        # The compute service destroys (or forgets) and removes the records;
        # on a failure it releases the lock with the fault. Unanswered, the
        # lock stays until it or its start-up recovery finishes the delete.
        self.compute_rpcapi.delete_server(context, server)

    @staticmethod
    def _check_no_linked_clones(context, server):
        snapshots = snapshot_obj.ServerSnapshotList.get_all(context,
                                                            server_id=server.id)
        dependents = [s for s in server_obj.ServerList.get_linked_dependents(
            context, [s.id for s in snapshots]) if s.id != server.id]
        if dependents:
            raise exception.Conflict(
                f"Server {server.id} cannot be deleted: servers "
                f"{', '.join(s.id for s in dependents)} were spawned as linked "
                "clones of its snapshots; delete them first.")

    @staticmethod
    def _check_no_volume_operations(context, server):
        in_flight = operation_obj.AssistedVolumeOperationList.get_in_flight(
            context, server_id=server.id)
        if in_flight:
            raise exception.Conflict(
                f"Server {server.id} cannot be deleted while Cinder's assisted "
                "snapshots of its volumes are queued or running (volumes "
                f"{', '.join(sorted({op.volume_id for op in in_flight}))}); "
                "delete it once they have ended.")

    def revert_server(self, context, server, snapshot, power_on, queue=False,
                      origin=queued_obj.USER):
        """Revert ``server`` to ``snapshot``; with ``queue``, a busy server's
        revert waits for its turn (docs/scheduler.md)."""
        self._check_revert(server, snapshot)
        self._start_or_queue(
            context, server, queue,
            lambda records: self._start_revert(context, server, snapshot,
                                               power_on, records),
            lambda: queued_requests.enqueue(
                context, server, queued_obj.REVERT, origin, snapshot,
                params={"power_on": power_on}))

    @staticmethod
    def _check_revert(server, snapshot):
        if snapshot.server_id != server.id:
            raise exception.SnapshotNotOfServer(snapshot_id=snapshot.id,
                                                server_id=server.id)
        if snapshot.status != states.AVAILABLE:
            raise exception.SnapshotNotAvailable(snapshot_id=snapshot.id,
                                                 status=snapshot.status,
                                                 verb="revert")
        if (not (server.capabilities or {}).get("revert_any")
                and snapshot.id != server.current_snapshot_id):
            raise exception.UnsupportedOperation(
                driver=server.driver, verb="revert_to_snapshot",
                reason="reverting to a snapshot other than the latest")

    def _start_revert(self, context, server, snapshot, power_on, records):
        self._start_task(
            context, server, states.REVERTING, target_id=snapshot.id,
            snapshot=snapshot, records=records,
            cast=lambda reservation: self.compute_rpcapi.revert_server(
                context, server, snapshot, power_on, reservation))

    @staticmethod
    def _start_or_queue(context, server, queue, start, enqueue):
        """``start([])`` the task; with ``queue``, ``enqueue()`` instead
        while the server is busy or other requests wait before this one."""
        if queue and queued_requests.must_wait(context, server):
            return enqueue()
        try:
            return start([])
        except (exception.ServerBusy, exception.UnexpectedTaskState):
            if not queue:
                raise
            return enqueue()

    def start_queued(self, context, server, request):
        """Start a queued request now that its turn came; the request's
        record is removed in the transaction that takes the task lock."""
        snapshot = None
        if request.snapshot_id is not None:
            snapshot = snapshot_obj.ServerSnapshot.get_by_id(
                context, request.snapshot_id)
        taken = functools.partial(queued_obj.QueuedRequest.remove, context,
                                  request.id)
        if request.action == queued_obj.CREATE_SNAPSHOT:
            self._start_create(context, server, snapshot, [
                lambda: snapshot.transition(states.START), taken])
        elif request.action == queued_obj.DELETE_SNAPSHOT:
            # A linked server may have been spawned from it while it waited.
            self._check_no_dependents(context, snapshot)
            self._start_delete(context, server, snapshot, [taken])
        elif request.action == queued_obj.REVERT:
            self._check_revert(server, snapshot)
            self._start_revert(context, server, snapshot,
                               (request.params or {}).get("power_on", True),
                               [taken])
        else:
            raise exception.Invalid(reason=f"unknown queued action "
                                           f"{request.action}")

    @staticmethod
    def queued_requests(context, server_ids):
        """{server id: [QueuedRequest]}: what waits for each server."""
        return queued_requests.by_server(context, server_ids)

    def resume_task(self, context, server, event):
        """Hand ``event`` (a dict) to the task that waits for it on
        ``server``; 409 when none waits."""
        if server.task_state not in states.RUNNING_STATE_OF:
            raise exception.Conflict(
                f"Server {server.id} has no task waiting for an event "
                f"(task_state {server.task_state}).")
        hosts.check(context, server.host)
        self.compute_rpcapi.resume_task(context, server, event)

    # --- bare-metal abort and retry (docs/baremetal.md) ------------------------

    @staticmethod
    def _check_provisioned(server, verb):
        """400 for a server without a provision state (not bare metal)."""
        if server.provision_state is None:
            raise exception.UnsupportedOperation(driver=server.driver,
                                                 verb=verb)

    def abort_snapshot(self, context, server):
        """Give up a bare-metal snapshot: one waiting for the agent fails
        (the compute service ends its task: snapshot wait -> snapshot failed),
        a failed one is left for good (snapshot failed -> active). Any other
        provision state is the machine's 409."""
        self._check_provisioned(server, "abort_snapshot")
        state = server.provision_state
        if state in states.PROVISION_WAITING:
            if server.task_state not in states.RUNNING_STATE_OF:
                raise exception.Conflict(
                    f"Server {server.id} is in provision state '{state}' but "
                    f"has no task waiting (task_state {server.task_state}); "
                    "retry in a moment.")
            hosts.check(context, server.host)
            self.compute_rpcapi.abort_task(context, server)
        elif state == states.PROVISION_SNAPSHOT_FAILED:
            if server.task_state is not None:
                raise exception.ServerBusy(server_id=server.id,
                                           task_state=server.task_state)
            server.provision(states.PROVISION_ABORT)
        else:
            states.next_provision_state(server.id, state,
                                        states.PROVISION_ABORT)
            raise exception.InvalidProvisionTransition(
                server_id=server.id, state=state, event=states.PROVISION_ABORT)
        LOG.info("Abort of bare-metal server %s in provision state '%s' "
                 "accepted", server.id, state)

    def retry_snapshot(self, context, server):
        """Take a failed bare-metal snapshot again: the server's latest
        snapshot in error goes back to creating under its own id, the
        server from 'snapshot failed' to 'snapshotting'. Returns it."""
        self._check_provisioned(server, "retry_snapshot")
        if server.provision_state != states.PROVISION_SNAPSHOT_FAILED:
            raise exception.InvalidProvisionTransition(
                server_id=server.id, state=server.provision_state,
                event=states.PROVISION_RETRY)
        failed = snapshot_obj.ServerSnapshotList.get_all(
            context, server_id=server.id, filters={"status": states.ERROR},
            sort_key="created_at", sort_dir="desc", limit=1)
        if not failed:
            raise exception.Conflict(
                f"Server {server.id} has no snapshot in error to retry; take "
                "a new snapshot, or abort (abort_snapshot) to make the server "
                "active again.")
        snapshot = failed[0]
        self._start_task(
            context, server, states.SNAPSHOTTING, target_id=snapshot.id,
            request={"kind": snapshot.kind, "memory": snapshot.memory,
                     "quiesce": snapshot.quiesce,
                     "include_volumes": snapshot.include_volumes},
            records=[lambda: snapshot.transition(states.RETRY, fault=None,
                                                 progress=0)],
            provision_event=states.PROVISION_RETRY,
            cast=lambda reservation: self.compute_rpcapi.create_snapshot(
                context, server, snapshot, reservation))
        return snapshot

    # --- snapshots ------------------------------------------------------------------

    def create_snapshot(self, context, server, name, description=None,
                        memory=False, quiesce=states.QUIESCE_PREFERRED, kind=None,
                        include_volumes=False, queue=False,
                        origin=queued_obj.USER, policy_id=None,
                        scheduled_at=None, quota_credit=0, records=()):
        """Take a snapshot; 403 over quota. With ``queue`` a busy server's
        snapshot is recorded ``queued`` and taken when its turn comes. The
        scheduler's take says which snapshots it is deleting to make room
        (``quota_credit``) and what it records with it (``records``)."""
        quota.check_snapshot(context, server.project_id, server.id,
                             credit=quota_credit)
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
        snapshot.policy_id = policy_id
        snapshot.scheduled_at = scheduled_at

        def enqueue():
            snapshot.status = states.QUEUED
            queued_requests.enqueue(
                context, server, queued_obj.CREATE_SNAPSHOT, origin, snapshot,
                records=[snapshot.create] + list(records))

        self._start_or_queue(
            context, server, queue,
            lambda more: self._start_create(
                context, server, snapshot,
                [snapshot.create] + list(records) + more),
            enqueue)
        return snapshot

    def _start_create(self, context, server, snapshot, records):
        # Taken now, it rests on what the server runs on now (a queued one's
        # parent is saved by its transition to creating).
        snapshot.parent_id = server.current_snapshot_id
        self._start_task(
            context, server, states.SNAPSHOTTING, target_id=snapshot.id,
            request={"kind": snapshot.kind, "memory": snapshot.memory,
                     "quiesce": snapshot.quiesce,
                     "include_volumes": snapshot.include_volumes},
            records=records,
            cast=lambda reservation: self.compute_rpcapi.create_snapshot(
                context, server, snapshot, reservation))

    @staticmethod
    def _check_no_dependents(context, snapshot):
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

    def delete_snapshot(self, context, server, snapshot, queue=False,
                        origin=queued_obj.USER):
        """Delete a snapshot; a queued one goes at once, before it ran.
        With ``queue`` a busy server's delete waits for its turn."""
        if snapshot.status == states.QUEUED:
            queued_requests.cancel_create(context, snapshot)
            return snapshot
        self._check_no_dependents(context, snapshot)
        # Refuse a delete the state machine does not allow before taking the lock.
        states.next_snapshot_status(snapshot.id, snapshot.status, states.DELETE)
        self._start_or_queue(
            context, server, queue,
            lambda records: self._start_delete(context, server, snapshot,
                                               records),
            lambda: queued_requests.enqueue(
                context, server, queued_obj.DELETE_SNAPSHOT, origin, snapshot))
        return snapshot

    def _start_delete(self, context, server, snapshot, records):
        self._start_task(
            context, server, states.DELETING_SNAPSHOT, target_id=snapshot.id,
            records=[lambda: snapshot.transition(states.DELETE, fault=None,
                                                 progress=0)] + list(records),
            cast=lambda reservation: self.compute_rpcapi.delete_snapshot(
                context, server, snapshot, reservation))

    def export_snapshot(self, context, server, snapshot, image_name, disk_format,
                        image_ref=None):
        if snapshot.status != states.AVAILABLE:
            raise exception.SnapshotNotAvailable(snapshot_id=snapshot.id,
                                                 status=snapshot.status,
                                                 verb="export")
        if not (server.capabilities or {}).get("export"):
            raise exception.UnsupportedOperation(driver=server.driver,
                                                 verb="export_snapshot")
        image = image_obj.Image(context)
        image.id = uuidutils.generate_uuid()
        image.snapshot_id = snapshot.id
        image.project_id = snapshot.project_id
        image.name = image_name
        image.disk_format = disk_format
        image.status = states.IMAGE_SAVING
        image.server_id = server.id
        image.host = server.host
        image.store_ref = image_ref  # an image the caller made in the store
        self._start_task(
            context, server, states.EXPORTING, target_id=snapshot.id,
            snapshot=snapshot, request={"disk_format": disk_format, "image_ref": image_ref},
            records=[image.create],
            cast=lambda reservation: self.compute_rpcapi.export_snapshot(
                context, server, snapshot, image, reservation))
        return image

    def delete_image(self, context, image):
        """Remove an export from its store (by the compute service that made
        it) and its record; 409 while it is being saved."""
        if image.status == states.IMAGE_SAVING:
            raise exception.Conflict(f"Image {image.id} is still being saved; "
                                     "delete it once its export has ended.")
        if image.host is not None:
            hosts.check(context, image.host)
        self.compute_rpcapi.delete_image(context, image)

    # --- compute services (docs/deployment.md) ------------------------------------

    @staticmethod
    def services(context):
        return list(service_obj.ServiceList.get_all(context))

    @staticmethod
    def update_service(context, service_id, disabled, reason):
        """Disable (with ``reason``) or enable a compute service."""
        service = service_obj.Service.get_by_id(context, service_id)
        service.disabled = disabled
        service.disabled_reason = reason if disabled else None
        service.save()
        LOG.info("Compute service of host %s %s%s", service.host,
                 "disabled" if disabled else "enabled",
                 f" ({reason})" if disabled and reason else "")
        return service

    # --- bare-metal nodes (docs/baremetal-nodes.md) --------------------------------

    def enrol_node(self, context, values):
        """Record a bare-metal node from the API's validated ``values``
        (name, agent_url, agent_token, root_device_hint, power_* and
        redfish_*); no agent is asked: it answers once the node boots it
        and heartbeats. 409 when the name is taken."""
        node = node_obj.BaremetalNode(context)
        for name, value in values.items():
            setattr(node, name, value)
        node.create()
        LOG.info("Enrolled bare-metal node %s (%s), agent %s, power %s",
                 node.id, node.name, node.agent_url, node.power_interface)
        return node

    @staticmethod
    def node_servers(context, nodes):
        """{node id: the id of the server adopted on it} for ``nodes``, in
        one query: a server of the baremetal driver names its node by id or
        by name in its hypervisor_ref."""
        by_ref = {}
        for node in nodes:
            for ref in node.refs():
                by_ref.setdefault(ref, node.id)
        found = {}
        for server in server_obj.ServerList.get_by_refs(
                context, node_obj.DRIVER, list(by_ref)):
            found.setdefault(by_ref[server.hypervisor_ref], server.id)
        return found

    def heartbeat(self, context, node, agent_url, agent_version):
        """Record that ``node``'s agent is up (now, its version, the URL it
        answers at now) and hand the heartbeat to a task of the node's
        server that waits for it. ``context`` is the service's own: the
        agent is no user."""
        node.last_heartbeat_at = timeutils.utcnow()
        node.agent_version = agent_version
        node.agent_url = agent_url
        node.save()
        event = {"heartbeat": {"agent_url": agent_url,
                               "agent_version": agent_version}}
        for server in server_obj.ServerList.get_by_refs(
                context, node_obj.DRIVER, list(node.refs())):
            if server.task_state in states.RUNNING_STATE_OF:
                LOG.info("Heartbeat of bare-metal node %s resumes the %s of "
                         "server %s", node.id, server.task_state, server.id)
                try:
                    self.resume_task(context, server, event)
                except exception.ComputeHostUnavailable as e:
                    # The agent heartbeats again; by then the server may
                    # have moved to a live compute service.
                    LOG.warning("Heartbeat of node %s not handed on: %s",
                                node.id, e)

    def delete_node(self, context, node):
        """Forget an enrolled node; 409 while a server is adopted on it.
        The check and the delete share one write transaction."""
        with obj_base.transaction(context):
            servers = server_obj.ServerList.get_by_refs(
                context, node_obj.DRIVER, list(node.refs()))
            if servers:
                raise exception.Conflict(
                    f"Bare-metal node {node.id} ({node.name}) cannot be "
                    f"deleted while server(s) "
                    f"{', '.join(s.id for s in servers)} are adopted on it; "
                    "delete the server(s) first (deleting an adopted server "
                    "only forgets it).")
            node.destroy()
        LOG.info("Deleted bare-metal node %s (%s)", node.id, node.name)

    # --- Cinder's assisted volume snapshots (docs/cinder.md) -------------------

    def volume_snapshot_create(self, context, volume_id, create_info):
        """Snapshot volume ``volume_id`` as ``create_info`` says; Nova's answer."""
        op = self._volume_operation(context, states.VOLUME_OP_CREATE, volume_id,
                                    create_info["snapshot_id"], create_info)
        self._start_volume_task(context, op, states.VOLUME_SNAPSHOTTING)
        return {"id": create_info.get("id"), "volumeId": volume_id}

    def volume_snapshot_delete(self, context, snapshot_id, delete_info):
        """Merge Cinder snapshot ``snapshot_id``'s file as ``delete_info`` says."""
        op = self._volume_operation(context, states.VOLUME_OP_DELETE,
                                    delete_info["volume_id"], snapshot_id,
                                    delete_info)
        self._start_volume_task(context, op, states.DELETING_VOLUME_SNAPSHOT)

    @staticmethod
    def _volume_operation(context, action, volume_id, snapshot_id, request):
        """The record of one of Cinder's requests, from start to finish."""
        op = operation_obj.AssistedVolumeOperation(context)
        op.id = uuidutils.generate_uuid()
        op.action = action
        op.status = states.VOLUME_OP_QUEUED
        op.volume_id = volume_id
        op.snapshot_id = snapshot_id
        op.user_id = context.user_id
        op.project_id = context.project_id
        op.request_id = context.request_id
        op.request = request
        return op

    @staticmethod
    def _attached_server(context, volume_id):
        """(server, device) of the one server that has ``volume_id``
        attached, by the compute services' record of attachments."""
        found = []
        for attachment in attachment_obj.VolumeAttachmentList.get_by_volume(
                context, volume_id):
            server = server_obj.Server.get_by_id(context, attachment.server_id)
            if server.status != states.BUILD:
                found.append((server, attachment.device))
        if not found:
            raise exception.VolumeNotAttached(volume_id=volume_id)
        if len(found) > 1:
            raise exception.VolumeAttachedToSeveral(
                volume_id=volume_id, servers=", ".join(s.id for s, _ in found))
        return found[0]

    def _start_volume_task(self, context, op, task_state):
        """No server lock (docs/cinder.md): the compute service's driver
        validates and reserves a place, the operation is recorded queued,
        and it takes its turn on the server over there."""
        _purge_old_volume_operations(context)
        op.host = CONF.host
        try:
            server, device = self._attached_server(context, op.volume_id)
            op.host = server.host
            op.server_id = server.id
            op.disk = device
            if server.task_state == states.DELETING_SERVER:
                raise exception.VolumeServerBusy(
                    server_id=server.id, volume_id=op.volume_id,
                    task_state=server.task_state)
            hosts.check(context, server.host)
            reservation = self.compute_rpcapi.prepare_task(
                context, server, task_state,
                request={"volume_id": op.volume_id, "info": op.request})
        except exception.NativesnapException as e:
            _refused(op, e)
            raise
        try:
            op.create()
        except Exception:
            self.compute_rpcapi.release_reservation(context, server.host,
                                                    reservation)
            raise
        self.compute_rpcapi.volume_snapshot_task(context, server, op, reservation)


def _refused(op, exc):
    """Record a request answered with an error: nothing was done."""
    op.status = states.VOLUME_OP_REFUSED
    op.fault = exception.fault_of(exc)
    op.finished_at = timeutils.utcnow()
    op.duration_ms = 0
    try:
        op.create()
    except Exception:
        LOG.exception("Could not record the refused assisted volume request "
                      "for volume %s", op.volume_id)


def _purge_old_volume_operations(context):
    days = CONF.assisted_volume_records_days
    if not days:
        return
    try:
        operation_obj.AssistedVolumeOperationList.purge(
            context, timeutils.utcnow() - datetime.timedelta(days=days))
    except exception.NativesnapException as e:
        LOG.warning("Could not remove old assisted volume records: %s", e)

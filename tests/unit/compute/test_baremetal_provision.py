"""compute.api's bare-metal verbs on a real database (sqlite and PostgreSQL),
with a recording RPC client in place of a compute service (no bare-metal
driver is needed for the API side): a heartbeat records the node and
resumes only a task that waits; abort and retry follow the provision state
machine; a spawn from a bare-metal snapshot takes the named or the first
free node, and a taken node is a 409 however the race is lost."""

import datetime
import itertools

from oslo_utils import timeutils
from oslo_utils import uuidutils
import pytest

from nativesnap.common import states
from nativesnap.compute import api as compute_api
from nativesnap import context as ns_context
from nativesnap import exception
from nativesnap.objects import baremetal_node as node_obj
from nativesnap.objects import server as server_obj
from nativesnap.objects import service as service_obj
from nativesnap.objects import snapshot as snapshot_obj

TOKEN = "agent-token-" + "t" * 20
RESERVATION = "reservation-1"


class RecordingRPC:
    """The compute service's RPC client: prepare_task accepts, casts are
    recorded as (method, server id, the rest)."""

    def __init__(self):
        self.casts = []
        self.prepared = []

    def prepare_task(self, context, server, task_state, snapshot=None,
                     request=None):
        self.prepared.append((server.id, task_state, request))
        return RESERVATION

    def release_reservation(self, context, host, reservation):
        self.casts.append(("release_reservation", host, reservation))

    def resume_task(self, context, server, event):
        self.casts.append(("resume_task", server.id, event))

    def abort_task(self, context, server):
        self.casts.append(("abort_task", server.id))

    def create_snapshot(self, context, server, snapshot, reservation):
        self.casts.append(("create_snapshot", server.id, snapshot.id,
                           reservation))

    def spawn_server(self, context, server, snapshot, linked, power_on,
                     reservation):
        self.casts.append(("spawn_server", server.id, snapshot.id))


@pytest.fixture
def rpc():
    return RecordingRPC()


def register_compute(host="test-host"):
    """The compute service RecordingRPC stands for, up in the registry."""
    service_obj.Service.heartbeat(ns_context.get_admin_context(), host,
                                  {"baremetal": {"host_free": True}}, "1.2")


@pytest.fixture
def api(database, rpc):
    register_compute()
    return compute_api.API(rpcapi=rpc)


@pytest.fixture
def context():
    return ns_context.RequestContext(user_id="alice", project_id="p1",
                                     roles=["member", "reader"])


_ENROLLED = itertools.count()


def enrol(context, name=None):
    """A node, enrolled a second after the one before (so "the first free
    node" is well defined)."""
    node = node_obj.BaremetalNode(context)
    node.name = name or "node-" + uuidutils.generate_uuid()[:8]
    node.agent_url = "https://10.0.0.5:9999"
    node.agent_token = TOKEN
    node.created_at = datetime.datetime(2026, 1, 1) + datetime.timedelta(
        seconds=next(_ENROLLED))
    node.create()
    return node


def bm_server(context, ref, provision_state=states.PROVISION_ACTIVE,
              task_state=None, driver=node_obj.DRIVER):
    """A server record as the bare-metal driver's adopt leaves it."""
    server = server_obj.Server(context)
    server.name = "bm-" + uuidutils.generate_uuid()[:8]
    server.project_id = "p1"
    server.driver = driver
    server.hypervisor_ref = ref
    server.host = "test-host"
    server.status = states.ACTIVE
    server.origin = states.ADOPTED
    server.provision_state = provision_state
    server.capabilities = {"linked_spawn": False}
    if task_state is not None:
        server.task_state = task_state
        server.task_id = uuidutils.generate_uuid()
    server.create()
    return server


def snapshot_of(context, server, status, age_s=0, name=None):
    snap = snapshot_obj.ServerSnapshot(context)
    snap.server_id = server.id
    snap.project_id = server.project_id
    snap.name = name or f"s-{status}-{age_s}"
    snap.status = status
    snap.kind = "external"
    snap.memory = False
    snap.quiesce = states.QUIESCE_OFF
    snap.include_volumes = False
    snap.created_at = timeutils.utcnow() - datetime.timedelta(seconds=age_s)
    if status == states.ERROR:
        snap.fault = {"code": 500, "message": "the agent vanished"}
        snap.progress = 40
    snap.create()
    return snap


def fresh(context, server):
    return server_obj.Server.get_by_id(context, server.id)


# --- heartbeat ------------------------------------------------------------------


def test_a_heartbeat_records_the_node_and_resumes_the_waiting_task(
        api, rpc, context):
    node = enrol(context)
    waiting = bm_server(context, node.id,
                        provision_state=states.PROVISION_SNAPSHOT_WAIT,
                        task_state=states.SNAPSHOT_WAIT)
    before = timeutils.utcnow()
    api.heartbeat(ns_context.get_admin_context(), node,
                  "https://10.0.0.17:9999", "0.2.0")
    again = node_obj.BaremetalNode.get_by_id(context, node.id)
    assert again.agent_url == "https://10.0.0.17:9999"
    assert again.agent_version == "0.2.0"
    assert again.last_heartbeat_at.replace(tzinfo=None) >= before.replace(
        microsecond=0)
    assert rpc.casts == [("resume_task", waiting.id, {"heartbeat": {
        "agent_url": "https://10.0.0.17:9999", "agent_version": "0.2.0"}})]


@pytest.mark.parametrize("task_state", [None, states.SNAPSHOTTING,
                                        states.REVERTING])
def test_a_heartbeat_resumes_nothing_when_no_task_waits(api, rpc, context,
                                                        task_state):
    node = enrol(context)
    bm_server(context, node.id, task_state=task_state)
    api.heartbeat(ns_context.get_admin_context(), node,
                  "https://10.0.0.5:9999", "0.1.0")
    assert rpc.casts == []
    assert node_obj.BaremetalNode.get_by_id(
        context, node.id).last_heartbeat_at is not None


def test_a_heartbeat_leaves_the_servers_of_other_nodes_and_drivers(
        api, rpc, context):
    node, other = enrol(context), enrol(context)
    bm_server(context, other.id, task_state=states.SNAPSHOT_WAIT,
              provision_state=states.PROVISION_SNAPSHOT_WAIT)
    bm_server(context, node.id, task_state=states.SNAPSHOT_WAIT,
              driver="fake", provision_state=None)
    api.heartbeat(ns_context.get_admin_context(), node,
                  "https://10.0.0.5:9999", "0.1.0")
    assert rpc.casts == []


# --- abort_snapshot -------------------------------------------------------------


def test_abort_of_a_server_without_provision_state_is_a_400(api, rpc, context):
    server = bm_server(context, "vm-1", driver="fake", provision_state=None)
    with pytest.raises(exception.UnsupportedOperation) as info:
        api.abort_snapshot(context, server)
    assert info.value.code == 400 and "abort_snapshot" in str(info.value)
    assert rpc.casts == []


@pytest.mark.parametrize("provision_state,task_state", [
    (states.PROVISION_SNAPSHOT_WAIT, states.SNAPSHOT_WAIT),
    (states.PROVISION_DEPLOY_WAIT, states.REVERT_WAIT),
])
def test_abort_of_a_waiting_snapshot_asks_the_compute_service(
        api, rpc, context, provision_state, task_state):
    server = bm_server(context, enrol(context).id,
                       provision_state=provision_state, task_state=task_state)
    api.abort_snapshot(context, server)
    assert rpc.casts == [("abort_task", server.id)]
    # The compute service moves the states (ComputeManager.abort_task).
    assert fresh(context, server).provision_state == provision_state


def test_abort_of_a_wait_state_without_a_waiting_task_is_a_409(api, rpc,
                                                                context):
    server = bm_server(context, enrol(context).id,
                       provision_state=states.PROVISION_SNAPSHOT_WAIT,
                       task_state=states.SNAPSHOTTING)
    with pytest.raises(exception.Conflict):
        api.abort_snapshot(context, server)
    assert rpc.casts == []


def test_abort_of_a_failed_snapshot_makes_the_server_active(api, rpc,
                                                             context):
    server = bm_server(context, enrol(context).id,
                       provision_state=states.PROVISION_SNAPSHOT_FAILED)
    api.abort_snapshot(context, server)
    assert fresh(context, server).provision_state == states.PROVISION_ACTIVE
    assert rpc.casts == []


def test_abort_of_a_failed_snapshot_of_a_locked_server_is_a_409(api, context):
    server = bm_server(context, enrol(context).id,
                       provision_state=states.PROVISION_SNAPSHOT_FAILED,
                       task_state=states.DELETING_SERVER)
    with pytest.raises(exception.ServerBusy):
        api.abort_snapshot(context, server)
    assert fresh(context, server).provision_state == \
        states.PROVISION_SNAPSHOT_FAILED


@pytest.mark.parametrize("provision_state", [
    states.PROVISION_ACTIVE, states.PROVISION_SNAPSHOTTING,
    states.PROVISION_DEPLOYING, states.PROVISION_DEPLOY_FAILED,
    states.PROVISION_DELETING])
def test_abort_in_any_other_provision_state_is_the_machines_409(
        api, rpc, context, provision_state):
    server = bm_server(context, enrol(context).id,
                       provision_state=provision_state)
    with pytest.raises(exception.InvalidProvisionTransition) as info:
        api.abort_snapshot(context, server)
    assert info.value.code == 409 and provision_state in str(info.value)
    assert fresh(context, server).provision_state == provision_state
    assert rpc.casts == []


# --- retry_snapshot -------------------------------------------------------------


def test_retry_takes_the_latest_failed_snapshot_again_with_the_lock(
        api, rpc, context):
    server = bm_server(context, enrol(context).id,
                       provision_state=states.PROVISION_SNAPSHOT_FAILED)
    older = snapshot_of(context, server, states.ERROR, age_s=300)
    latest = snapshot_of(context, server, states.ERROR, age_s=60)
    snapshot_of(context, server, states.AVAILABLE, age_s=10)
    retried = api.retry_snapshot(context, server)
    assert retried.id == latest.id
    again = snapshot_obj.ServerSnapshot.get_by_id(context, latest.id)
    assert (again.status, again.fault, again.progress) == (
        states.CREATING, None, 0)
    assert snapshot_obj.ServerSnapshot.get_by_id(
        context, older.id).status == states.ERROR
    locked = fresh(context, server)
    assert locked.task_state == states.SNAPSHOTTING
    assert locked.task_target_id == latest.id and locked.task_id
    assert locked.provision_state == states.PROVISION_SNAPSHOTTING
    assert rpc.prepared == [(server.id, states.SNAPSHOTTING, {
        "kind": "external", "memory": False, "quiesce": states.QUIESCE_OFF,
        "include_volumes": False})]
    assert rpc.casts == [("create_snapshot", server.id, latest.id,
                          RESERVATION)]


def test_retry_without_a_failed_snapshot_is_a_409(api, rpc, context):
    server = bm_server(context, enrol(context).id,
                       provision_state=states.PROVISION_SNAPSHOT_FAILED)
    snapshot_of(context, server, states.AVAILABLE)
    with pytest.raises(exception.Conflict) as info:
        api.retry_snapshot(context, server)
    assert "no snapshot in error" in str(info.value)
    assert fresh(context, server).task_state is None
    assert rpc.prepared == [] and rpc.casts == []


@pytest.mark.parametrize("provision_state", [
    states.PROVISION_ACTIVE, states.PROVISION_SNAPSHOT_WAIT,
    states.PROVISION_SNAPSHOTTING, states.PROVISION_DEPLOY_FAILED])
def test_retry_when_the_snapshot_has_not_failed_is_a_409(
        api, rpc, context, provision_state):
    server = bm_server(context, enrol(context).id,
                       provision_state=provision_state)
    failed = snapshot_of(context, server, states.ERROR)
    with pytest.raises(exception.InvalidProvisionTransition):
        api.retry_snapshot(context, server)
    assert snapshot_obj.ServerSnapshot.get_by_id(
        context, failed.id).status == states.ERROR
    assert rpc.prepared == [] and rpc.casts == []


def test_retry_of_a_server_without_provision_state_is_a_400(api, context):
    server = bm_server(context, "vm-2", driver="fake", provision_state=None)
    with pytest.raises(exception.UnsupportedOperation):
        api.retry_snapshot(context, server)


def test_retry_of_a_busy_server_is_a_409_and_changes_nothing(api, rpc,
                                                             context):
    server = bm_server(context, enrol(context).id,
                       provision_state=states.PROVISION_SNAPSHOT_FAILED,
                       task_state=states.DELETING_SERVER)
    failed = snapshot_of(context, server, states.ERROR)
    with pytest.raises(exception.ServerBusy):
        api.retry_snapshot(context, server)
    assert snapshot_obj.ServerSnapshot.get_by_id(
        context, failed.id).status == states.ERROR
    assert rpc.casts == [("release_reservation", "test-host", RESERVATION)]


# --- spawn onto a node ----------------------------------------------------------


@pytest.fixture
def source(context):
    """A bare-metal server on its own node, with an available snapshot."""
    server = bm_server(context, enrol(context, name="source-node").id)
    return server, snapshot_of(context, server, states.AVAILABLE)


def spawn(api, context, source, node=None, name="copy"):
    return api.spawn_server(context, source[1], name, False, True, node=node)


@pytest.mark.parametrize("by", ["id", "name"])
def test_spawn_goes_on_the_named_node(api, rpc, context, source, by):
    enrol(context)
    node = enrol(context)
    server = spawn(api, context, source, node=getattr(node, by))
    created = fresh(context, server)
    assert created.hypervisor_ref == node.id
    assert created.provision_state == states.PROVISION_DEPLOYING
    assert created.task_state == states.SPAWNING
    assert rpc.casts == [("spawn_server", server.id, source[1].id)]


def test_spawn_on_a_taken_node_is_a_409(api, rpc, context, source):
    node = enrol(context)
    owner = bm_server(context, node.name)  # named by name counts too
    with pytest.raises(exception.NodeInUse) as info:
        spawn(api, context, source, node=node.id)
    assert info.value.code == 409 and owner.id in str(info.value)
    assert rpc.prepared == []


def test_spawn_on_an_unknown_node_is_a_400(api, rpc, context, source):
    with pytest.raises(exception.ValidationError) as info:
        spawn(api, context, source, node="no-such-node")
    assert info.value.code == 400 and "no-such-node" in str(info.value)
    assert rpc.prepared == []


def test_spawn_without_a_node_takes_the_oldest_free_one(api, context,
                                                        source):
    taken = enrol(context)
    bm_server(context, taken.id)
    first_free = enrol(context)
    enrol(context)
    server = spawn(api, context, source)
    assert fresh(context, server).hypervisor_ref == first_free.id
    # The next spawn takes the next free node.
    second = spawn(api, context, source, name="copy2")
    assert fresh(context, second).hypervisor_ref not in (taken.id,
                                                         first_free.id)


def test_spawn_without_a_free_node_is_a_409(api, rpc, context, source):
    with pytest.raises(exception.NoFreeNode) as info:
        spawn(api, context, source)
    assert info.value.code == 409 and "copy" in str(info.value)
    assert rpc.prepared == []
    assert [s.id for s in server_obj.ServerList.get_all(context)] == [
        source[0].id]


def test_two_spawns_racing_for_a_node_let_one_in(api, rpc, context, source,
                                                 monkeypatch):
    node = enrol(context)
    # Both saw the node free: the second finds it taken only at its insert.
    monkeypatch.setattr(compute_api.API, "node_servers",
                        staticmethod(lambda context, nodes: {}))
    spawn(api, context, source, node=node.id)
    with pytest.raises(exception.NodeInUse) as info:
        spawn(api, context, source, node=node.id, name="copy2")
    assert info.value.code == 409
    # The loser's reservation is given back and it left no record.
    assert rpc.casts[-1] == ("release_reservation", "test-host", RESERVATION)
    assert "copy2" not in [s.name for s in server_obj.ServerList.get_all(
        context)]


def test_a_node_for_a_server_of_another_driver_is_a_400(api, rpc, context):
    server = bm_server(context, "vm-3", driver="fake", provision_state=None)
    snap = snapshot_of(context, server, states.AVAILABLE)
    node = enrol(context)
    with pytest.raises(exception.UnsupportedOperation) as info:
        api.spawn_server(context, snap, "copy", False, True, node=node.id)
    assert info.value.code == 400 and "node" in str(info.value)
    assert rpc.prepared == []


def test_a_spawn_of_another_driver_keeps_its_placeholder_ref(api, context):
    server = bm_server(context, "vm-4", driver="fake", provision_state=None)
    snap = snapshot_of(context, server, states.AVAILABLE)
    spawned = fresh(context, api.spawn_server(context, snap, "c", False, True))
    assert spawned.hypervisor_ref == f"building:{spawned.id}"
    assert spawned.provision_state is None

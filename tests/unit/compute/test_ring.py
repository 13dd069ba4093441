"""Host-free servers are shared among the live compute services that run
their driver: each gets exactly one owner, the ring's; a dead service's
servers move at once (a task its death cut is reconciled), a live one's
only between tasks. On a real (sqlite, then PostgreSQL) database."""

import datetime
import types

from oslo_utils import timeutils
from oslo_utils import uuidutils
import pytest

from nativesnap.common import states
from nativesnap.compute import hosts
from nativesnap.compute import recovery
from nativesnap.compute import ring
from nativesnap import context as ns_context
from nativesnap.objects import server as server_obj
from nativesnap.objects import service as service_obj

HOSTS = ("host-a", "host-b", "host-c")


class _Driver:
    def __init__(self, host_free):
        self.host_free = host_free


def _manager(host, host_free=True):
    """What Membership needs of a compute manager."""
    return types.SimpleNamespace(host=host, broken_drivers={},
                                 drivers={"fake": _Driver(host_free)})


def _server(context, host, task_state=None):
    server = server_obj.Server(context)
    server.name = "s"
    server.project_id = "p1"
    server.driver = "fake"
    server.hypervisor_ref = uuidutils.generate_uuid()
    server.host = host
    server.status = states.ACTIVE
    server.origin = states.ADOPTED
    server.capabilities = {}
    if task_state is not None:
        server.task_state = task_state
        server.task_id = uuidutils.generate_uuid()
    server.create()
    return server


def _die(context, host):
    service = service_obj.Service.get_by_host(context, host)
    service.last_seen_at = timeutils.utcnow() - datetime.timedelta(hours=1)
    service.save()


@pytest.fixture
def cluster(database):
    context = ns_context.get_admin_context()
    members = {h: ring.Membership(_manager(h)) for h in HOSTS}
    for membership in members.values():
        membership.heartbeat(context)
    return context, members


def _hosts(context, servers):
    return {s.id: server_obj.Server.get_by_id(context, s.id).host
            for s in servers}


def test_each_server_gets_exactly_the_rings_owner(cluster):
    context, members = cluster
    servers = [_server(context, "host-a") for _ in range(30)]
    for membership in members.values():
        membership.share(context, force=True)
    ring_ = hosts.ring_of(list(HOSTS))
    owners = _hosts(context, servers)
    assert owners == {s.id: hosts.owner(ring_, s.id) for s in servers}
    assert set(owners.values()) == set(HOSTS)  # 30 servers reach all three


def test_a_dead_services_servers_move_to_the_live_ones(cluster, monkeypatch):
    context, members = cluster
    servers = [_server(context, "host-a") for _ in range(30)]
    for membership in members.values():
        membership.share(context, force=True)
    busy = _server(context, "host-c", task_state=states.SNAPSHOTTING)
    waiting = _server(context, "host-c",
                      task_state=states.WAIT_STATES[states.SNAPSHOTTING])
    reconciled = []
    monkeypatch.setattr(recovery, "recover_task",
                        lambda manager, server_id, task_id, why: reconciled.append(
                            (manager.host, server_id, task_id, why)))
    _die(context, "host-c")
    for host in ("host-a", "host-b"):
        members[host].share(context)  # the members changed: a scan now
    owners = _hosts(context, servers + [busy, waiting])
    assert set(owners.values()) == {"host-a", "host-b"}
    live = hosts.ring_of(["host-a", "host-b"])
    assert owners == {s.id: hosts.owner(live, s.id)
                      for s in servers + [busy, waiting]}
    # The cut task is reconciled by its new owner; a wait goes on waiting.
    assert reconciled == [(owners[busy.id], busy.id, busy.task_id,
                           ring.HOST_DIED)]


def test_a_live_services_busy_server_moves_only_when_idle(cluster):
    context, members = cluster
    del members["host-c"]
    servers = [_server(context, "host-c", task_state=states.SNAPSHOTTING)
               for _ in range(6)]
    service = service_obj.Service.get_by_host(context, "host-c")
    service.disabled = True  # out of the ring, still alive
    service.save()
    for membership in members.values():
        membership.share(context, force=True)
    assert set(_hosts(context, servers).values()) == {"host-c"}
    for server in servers:
        server.end_task(states.SNAPSHOTTING, server.task_id)
    for membership in members.values():
        membership.share(context, force=True)
    assert set(_hosts(context, servers).values()) <= {"host-a", "host-b"}


def test_servers_of_drivers_tied_to_a_host_never_move(database):
    context = ns_context.get_admin_context()
    tied = {h: ring.Membership(_manager(h, host_free=False)) for h in HOSTS}
    for membership in tied.values():
        membership.heartbeat(context)
    servers = [_server(context, "host-a") for _ in range(10)]
    _die(context, "host-a")
    for membership in tied.values():
        membership.share(context, force=True)
    assert set(_hosts(context, servers).values()) == {"host-a"}

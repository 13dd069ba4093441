"""The API side refuses, at once and naming the host, the changes of a
server whose compute service is down, disabled or never registered; reads
still answer. Adopt asks the compute that has the object."""

import datetime

from oslo_utils import timeutils
import pytest

from nativesnap.compute import hosts
from nativesnap import context as ns_context
from nativesnap import exception
from nativesnap.objects import service as service_obj


def _service(host="test-host"):
    return service_obj.Service.get_by_host(ns_context.get_admin_context(), host)


def _silence(host="test-host", seconds=3600):
    """The service of ``host`` last heartbeat ``seconds`` ago."""
    service = _service(host)
    service.last_seen_at = timeutils.utcnow() - datetime.timedelta(
        seconds=seconds)
    service.save()


def test_a_compute_service_registers_when_it_starts_with_its_drivers(env):
    service = _service()
    assert service.is_up and not service.disabled
    assert service.drivers == {"fake": {"host_free": False}}
    assert service.rpc_version


def test_a_snapshot_for_a_server_of_a_down_host_is_refused_naming_it(env):
    server = env.adopt("vm-1")
    _silence()
    with pytest.raises(exception.ComputeHostUnavailable) as refused:
        env.create(server.id)
    assert refused.value.code == 409
    assert "host test-host is down" in str(refused.value)
    assert "last heartbeat was 3600 s ago" in str(refused.value)
    assert env.server(server.id).task_state is None  # nothing recorded
    assert env.snapshots(server.id) == []


def test_a_disabled_host_refuses_with_the_operators_reason(env):
    server = env.adopt("vm-1")
    service = _service()
    env.manager.update_service(env.context, service.id, True, "disk swap")
    with pytest.raises(exception.ComputeHostUnavailable) as refused:
        env.manager.delete_server(env.context, env.server(server.id))
    assert "disabled by an operator (reason: disk swap)" in str(refused.value)
    enabled = env.manager.update_service(env.context, service.id, False,
                                         "ignored")
    assert enabled.disabled_reason is None
    assert env.create(server.id).status == "available"


def test_a_host_that_never_registered_is_refused(env):
    server = env.adopt("vm-1")
    server.host = "elsewhere"
    with pytest.raises(exception.ComputeHostUnavailable) as refused:
        env.manager.create_snapshot(env.context, server, "s")
    assert "host elsewhere is not registered" in str(refused.value)


def test_adopt_on_a_named_host_that_is_down_is_refused(env):
    _silence()
    with pytest.raises(exception.ComputeHostUnavailable):
        env.manager.adopt_server(env.context, "n", "fake", "vm-2", "p1",
                                 host="test-host")


def test_adopt_without_a_live_service_of_the_driver_names_the_hosts(env):
    _silence()
    with pytest.raises(exception.NoComputeForDriver) as refused:
        env.adopt("vm-2")
    assert "test-host is down" in str(refused.value)


def test_adopt_of_a_driver_no_service_runs_is_a_400(env):
    with pytest.raises(exception.DriverNotEnabled) as refused:
        env.manager.adopt_server(env.context, "n", "vmware", "vm-2", "p1")
    assert refused.value.code == 400
    assert "enabled drivers: fake" in str(refused.value)


def test_the_ring_gives_each_server_one_of_the_members_evenly():
    ring = hosts.ring_of(["a", "b", "c"])
    owners = [hosts.owner(ring, f"00000000-0000-0000-0000-{i:012d}")
              for i in range(300)]
    counts = {h: owners.count(h) for h in "abc"}
    assert sum(counts.values()) == 300
    assert min(counts.values()) >= 50, counts
    # The same members give the same owners, in any order.
    again = hosts.ring_of(["c", "a", "b"])
    assert owners == [hosts.owner(again, f"00000000-0000-0000-0000-{i:012d}")
                      for i in range(300)]

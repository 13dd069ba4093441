"""Host-free servers (the fake driver configured as vSphere's and bare
metal's are) shared by three real nativesnap-compute processes over the real
RabbitMQ broker and one PostgreSQL database: each server has exactly one
owner, the hash ring's; when one compute is killed (-9) its servers are
owned by the two others within two heartbeat intervals, and a task its
death cut is reconciled by the new owner."""

import signal
import time

import pytest

from nativesnap.compute import hosts
from tests import fixtures

HOSTS = ("free-a", "free-b", "free-c")
REPORT_INTERVAL = 3
DOWN_TIME = 4
SERVERS = 30


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    state = str(tmp_path_factory.mktemp("host-free"))
    default = fixtures.broker_conf(report_interval=REPORT_INTERVAL,
                                   service_down_time=DOWN_TIME)
    with fixtures.postgresql_database() as url:
        api = fixtures.APIServer(state, url, drivers=("fake",),
                                 extra_conf={"DEFAULT": default})
        api.manage("db", "sync")
        computes = {host: fixtures.ComputeService(
            api, host, drivers=("fake",), extra_conf={"fake": {
                "host_free": "true", "task_delay": "60",
                "state_file": f"{state}/fake-{host}.json"}})
            for host in HOSTS}
        for compute in computes.values():
            compute.start()
        api.start()
        try:
            yield api, computes
        finally:
            api.stop()
            for compute in computes.values():
                compute.stop()


def _services(api):
    resp = api.request("GET", "/v1/os-services")
    assert resp.status_code == 200, resp.text
    return {s["host"]: s for s in resp.json()["services"]}


def _hosts_of(api, ids):
    resp = api.request("GET", "/v1/servers?limit=1000")
    assert resp.status_code == 200, resp.text
    return {s["id"]: s["host"] for s in resp.json()["servers"]
            if s["id"] in ids}


def _adopt(api, ref):
    resp = api.request("POST", "/v1/servers", json={"server": {
        "name": ref, "driver": "fake", "hypervisor_ref": ref}})
    assert resp.status_code == 201, resp.text
    return resp.json()["server"]


def _ring_owners(ids, members):
    ring = hosts.ring_of(list(members))
    return {i: hosts.owner(ring, i) for i in ids}


def test_host_free_servers_move_off_a_killed_compute_within_two_heartbeats(
        cluster):
    api, computes = cluster
    services = _services(api)
    assert {h: (services[h]["state"], services[h]["host_free_drivers"])
            for h in HOSTS} == {h: ("up", ["fake"]) for h in HOSTS}

    servers = [_adopt(api, f"free-{i}") for i in range(SERVERS)]
    ids = {s["id"] for s in servers}
    # Adopt placed each on its ring owner: one owner each, all three used.
    assert _hosts_of(api, ids) == _ring_owners(ids, HOSTS)
    assert set(_hosts_of(api, ids).values()) == set(HOSTS)
    # An adopted host-free object is adopted once, whichever host asks.
    again = api.request("POST", "/v1/servers", json={"server": {
        "name": "again", "driver": "fake", "hypervisor_ref": "free-0"}})
    assert again.status_code == 409, again.text

    # A task in flight (a slow-* object's snapshot takes task_delay, 60 s)
    # on the compute that is then killed.
    slow = _adopt(api, "slow-free")
    slow_host = _hosts_of(api, {slow["id"]})[slow["id"]]
    snap = api.request("POST", f"/v1/servers/{slow['id']}/snapshots",
                       json={"snapshot": {"name": "cut"}})
    assert snap.status_code == 202, snap.text
    assert api.request("GET", f"/v1/servers/{slow['id']}").json()[
        "server"]["task_state"] == "snapshotting"

    killed_at = time.monotonic()
    computes[slow_host].proc.send_signal(signal.SIGKILL)
    computes[slow_host].proc.wait(10)
    live = [h for h in HOSTS if h != slow_host]
    everyone = ids | {slow["id"]}
    api.wait_for(lambda: _hosts_of(api, everyone) == _ring_owners(everyone,
                                                                  live),
                 timeout=2 * REPORT_INTERVAL, interval=0.2,
                 what=f"the servers of {slow_host} to move to {live}")
    took = time.monotonic() - killed_at
    assert _services(api)[slow_host]["state"] == "down"
    # The cut snapshot is reconciled by the new owner: no lock is left.
    api.wait_for(lambda: api.request("GET", f"/v1/servers/{slow['id']}").json()[
        "server"]["task_state"] is None, timeout=15,
        what="the cut task to be reconciled")
    snaps = api.request("GET", f"/v1/servers/{slow['id']}/snapshots").json()
    assert [s["status"] for s in snaps["snapshots"]] in ([], ["error"])
    print(f"servers moved {took:.1f} s after the kill")

    # A moved server takes work on its new host.
    moved = next(i for i in ids if _ring_owners(ids, HOSTS)[i] == slow_host)
    resp = api.request("POST", f"/v1/servers/{moved}/snapshots",
                       json={"snapshot": {"name": "after"}})
    assert resp.status_code == 202, resp.text
    api.wait_for(lambda: api.request(
        "GET", f"/v1/servers/{moved}/snapshots/{resp.json()['snapshot']['id']}"
    ).json()["snapshot"]["status"] == "available", timeout=15,
        what="the moved server's snapshot")

"""A deployment of several hosts, accepted as an operator would run it
(docs/deployment.md): one nativesnap-api served by two worker processes,
two nativesnap-compute processes, host-a and host-b, each on a libvirtd of
its own with a real TCG guest, a RabbitMQ broker and one PostgreSQL database.

What it proves, through the one API endpoint:

- adoption without a host finds the host whose hypervisor has the guest, and
  snapshot, revert (checked inside the guest), linked spawn (on the source's
  host) and delete work on both hosts;
- the service registry: both computes up with their drivers; a compute
  killed with ``kill -9`` is ``down`` within two heartbeats and its servers
  refuse mutations at once, naming it, while the other host works; a
  disabled host refuses them naming its reason;
- a compute killed while a snapshot holds its guest frozen finishes that
  task at its restart: the lock released, the snapshot in error, the guest
  thawed with its data intact;
- with the broker stopped, work answers 503 within ``rpc_response_timeout``
  and reads keep working; the broker back, work is taken again with no
  service restarted;
- 50 mutations at once on one server, spread over both API workers: exactly
  one is accepted.

The broker is one of the module's own (tests/functional/private_rabbitmq.py)
and so is each host's libvirtd (private_libvirtd.py): stopping them cuts no
other test. The module is not in tests/conftest.py's list of parallel
modules, so `make test` runs it in its serial pass, alone: it stops and kills
processes, and boots guests. Its set-up (broker, database, three services,
two libvirtds, two guests) is made once for the module. The heartbeat is
every 2 s and a compute is down after 4 s without one, so that the test is
quick; the tests run in the order written, each leaving both computes and
the broker running.
"""

import concurrent.futures
import contextlib
import dataclasses
import os
import re
import signal
import subprocess
import threading
import time

import pytest
import requests

from tests import fixtures
from tests import guest as guestlib
from tests.functional import libvirt_helpers as lh
from tests.functional import private_libvirtd
from tests.functional import private_rabbitmq

pytest_plugins = ["tests.functional.guest_fixtures"]

KIB = 1024
REPORT_INTERVAL = 2
SERVICE_DOWN_TIME = 4
RPC_TIMEOUT = 5
API_WORKERS = 2
HOST_A, HOST_B = "host-a", "host-b"
# host-a also runs the fake driver: its slow-* servers hold their task lock
# this long, which the burst of concurrent requests needs.
FAKE_TASK_SECONDS = 6
BURST = 50
# A refusal "at once" is answered from the registry, without asking the
# compute: far below rpc_response_timeout.
AT_ONCE_SECONDS = 1.0


class _Compute(fixtures.ComputeService):
    """A ComputeService whose every start logs to a file of its own, so
    that ready() looks at this start's log only."""

    starts = {}

    def start(self, timeout=60):
        n = _Compute.starts[self.host] = _Compute.starts.get(self.host, 0) + 1
        self.log_path = os.path.join(os.path.dirname(self.log_path),
                                     f"compute-{self.host}.{n}.log")
        return super().start(timeout)


@dataclasses.dataclass
class Host:
    name: str
    daemon: private_libvirtd.PrivateLibvirtd
    conn: object
    conf: dict
    guest: guestlib.Guest = None
    compute: _Compute = None


class Cluster:
    def __init__(self, api, broker, hosts):
        self.api = api
        self.broker = broker
        self.hosts = hosts

    def start_compute(self, name, extra=None):
        """Start ``name``'s compute (``extra``: more of its configuration)."""
        host = self.hosts[name]
        conf = {section: dict(values) for section, values in host.conf.items()}
        for section, values in (extra or {}).items():
            conf.setdefault(section, {}).update(values)
        drivers = conf["DEFAULT"].pop("enabled_drivers").split(",")
        host.compute = _Compute(self.api, name, drivers=drivers,
                                extra_conf=conf).start()
        return host.compute

    def stop_services(self):
        """SIGTERM to the API and every compute at once, then wait for
        each (bounded): they wind down side by side."""
        services = [self.api] + [h.compute for h in self.hosts.values()
                                 if h.compute is not None]
        running = [s for s in services if s.proc and s.proc.poll() is None]
        for service in running:
            service.proc.send_signal(signal.SIGTERM)
        late = []
        for service in running:
            try:
                service.proc.wait(30)
            except subprocess.TimeoutExpired:
                service.kill()
                late.append(service.command)
        assert not late, f"still running 30 s after SIGTERM: {late}"

    def ensure_running(self, name):
        compute = self.hosts[name].compute
        if compute is None or compute.proc.poll() is not None:
            self.start_compute(name)
        wait_for_state(self.api, name, "up", timeout=2 * REPORT_INTERVAL + 10)


def services(api, token=lh.ADMIN):
    resp = api.request("GET", "/v1/os-services", token=token)
    assert resp.status_code == 200, resp.text
    return {s["host"]: s for s in resp.json()["services"]
            if s["binary"] == "nativesnap-compute"}


def wait_for_state(api, host, state, timeout):
    return api.wait_for(lambda: services(api).get(host, {}).get("state") == state,
                        timeout=timeout, interval=0.1,
                        what=f"compute {host} to be {state}")


def set_status(api, host, status, reason=None):
    body = {"status": status}
    if reason is not None:
        body["disabled_reason"] = reason
    resp = api.request("PUT", f"/v1/os-services/{services(api)[host]['id']}",
                       token=lh.ADMIN, json={"service": body})
    assert resp.status_code == 200, resp.text
    return resp.json()["service"]


def post_snapshot(api, server_id, name):
    """POST a snapshot; (response, seconds it took)."""
    began = time.monotonic()
    resp = api.request("POST", f"/v1/servers/{server_id}/snapshots",
                       token=lh.ADMIN, json={"snapshot": {"name": name}},
                       timeout=RPC_TIMEOUT + 30)
    return resp, time.monotonic() - began


def fault_message(resp, name):
    return resp.json()[name]["message"]


def launch(guests):
    """Start every guest at once, without waiting: TCG boots take seconds,
    spent while the services start."""
    for guest in guests:
        guest.define()
        guest.domain.create()


# --- the module's deployment --------------------------------------------------


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, guest_images):
    from tests.functional import guest_fixtures  # the plugin, loaded by now

    state = str(tmp_path_factory.mktemp("cluster-hosts"))
    with contextlib.ExitStack() as stack:
        broker = private_rabbitmq.PrivateRabbitMQ()
        stack.callback(broker.cleanup)
        pool = stack.enter_context(concurrent.futures.ThreadPoolExecutor(1))
        broker_started = pool.submit(broker.start)  # boots beside the rest
        url = stack.enter_context(fixtures.postgresql_database())
        shared = fixtures.broker_conf(
            broker.url, rpc_response_timeout=RPC_TIMEOUT,
            report_interval=REPORT_INTERVAL,
            service_down_time=SERVICE_DOWN_TIME)
        api = fixtures.APIServer(state, url, drivers=("libvirt", "fake"),
                                 extra_conf={"DEFAULT": shared,
                                             "api": {"workers": str(API_WORKERS)}})
        api.manage("db", "sync")
        hosts = {}
        for name, drivers in ((HOST_A, "libvirt,fake"), (HOST_B, "libvirt")):
            daemon = private_libvirtd.PrivateLibvirtd()
            stack.callback(daemon.cleanup)
            daemon.start()
            conn = daemon.connect()
            stack.callback(conn.close)
            host_state = os.path.join(state, name)
            hosts[name] = Host(name, daemon, conn, {
                "DEFAULT": {"state_path": host_state, "enabled_drivers": drivers},
                "libvirt": {"uri": daemon.uri},
                "fake": {"task_delay": str(FAKE_TASK_SECONDS)}})
            factory = guest_fixtures.GuestFactory(conn, guest_images,
                                                  os.path.join(state, f"guests-{name}"))
            stack.callback(factory.cleanup)
            hosts[name].guest = factory(disks=1, boot=False)
        launch([h.guest for h in hosts.values()])
        broker_started.result(timeout=90)
        made = Cluster(api, broker, hosts)
        stack.callback(made.stop_services)
        for name in hosts:
            made.start_compute(name)
        api.start(timeout=60)
        for host in hosts.values():
            host.guest.wait_for_agent(timeout=90)
        yield made


@pytest.fixture(scope="module")
def adopted(cluster):
    """{host: server}: each host's guest, adopted without naming a host."""
    servers = {}
    for name, host in cluster.hosts.items():
        servers[name] = lh.adopt(cluster.api, host.guest)
    return servers


@pytest.fixture
def running(cluster):
    """Both computes and the broker run when a test starts."""
    if not cluster.broker.running():
        cluster.broker.start()
    for name in cluster.hosts:
        cluster.ensure_running(name)
    return cluster


# --- the tests -------------------------------------------------------------------


def test_the_api_serves_from_two_worker_processes_over_the_broker(running):
    api = running.api
    log = api.read_log()
    assert f"({API_WORKERS} workers; no drivers: computes over rabbit://" in log
    assert running.broker.password not in log


def test_adoption_without_a_host_finds_each_guest_s_host_and_every_operation_works_there(
        running, adopted):
    api = running.api

    def lifecycle(name):
        host = running.hosts[name]
        other = running.hosts[HOST_B if name == HOST_A else HOST_A]
        srv = adopted[name]
        assert (srv["host"], srv["status"]) == (name, "ACTIVE")
        assert lh.server(api, srv["id"])["host"] == name
        guest = host.guest
        a = guest.write_random("/data/f", 256 * KIB)
        s1 = lh.snapshot(api, srv["id"], name=f"s1-{name}")
        assert s1["consistency"] == "application"
        assert guest.write_random("/data/f", 256 * KIB) != a

        lh.revert(api, srv["id"], s1["id"])
        guest.wait_for_agent(timeout=60)
        assert guest.sha256("/data/f") == a  # read back inside the guest

        resp = api.request("POST", "/v1/servers", token=lh.ADMIN, json={
            "server": {"name": f"clone-{name}", "snapshot_id": s1["id"],
                       "linked": True}})
        assert resp.status_code == 202, resp.text
        clone = lh.wait_idle(api, resp.json()["server"]["id"])
        assert (clone["status"], clone["host"]) == ("ACTIVE", name)
        assert guestlib.Guest.attach(other.conn, clone["hypervisor_ref"]) is None
        in_guest = guestlib.Guest.attach(host.conn, clone["hypervisor_ref"])
        in_guest.wait_for_agent(timeout=90)
        assert in_guest.sha256("/data/f") == a

        resp = api.request("DELETE", f"/v1/servers/{clone['id']}", token=lh.ADMIN)
        assert resp.status_code == 204, resp.text
        assert guestlib.Guest.attach(host.conn, clone["hypervisor_ref"]) is None
        lh.delete_snapshot(api, srv["id"], s1["id"])
        guest.write_random("/data/g", 64 * KIB)  # still runs and writes

    # The two hosts at once: their guests boot and copy side by side.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(lifecycle, name) for name in running.hosts]:
            future.result(timeout=280)


def test_the_registry_lists_both_computes_up_with_their_drivers(running):
    listed = services(running.api)
    assert {name: (s["state"], s["status"], sorted(s["drivers"]))
            for name, s in listed.items()} == {
        HOST_A: ("up", "enabled", ["fake", "libvirt"]),
        HOST_B: ("up", "enabled", ["libvirt"])}
    resp = running.api.request("GET", "/v1/os-services", token="member:proj-libvirt")
    assert resp.status_code == 403, resp.text


def test_a_killed_compute_is_down_within_two_heartbeats_and_its_servers_refuse_work_at_once(
        running, adopted):
    api = running.api
    server_a, server_b = adopted[HOST_A], adopted[HOST_B]
    running.hosts[HOST_B].compute.kill()  # SIGKILL: no goodbye
    killed = time.monotonic()
    wait_for_state(api, HOST_B, "down", timeout=2 * REPORT_INTERVAL + 10)
    down_after = time.monotonic() - killed
    # The last heartbeat was at most one interval before the kill.
    assert down_after <= 2 * REPORT_INTERVAL + 1.0, down_after
    assert services(api)[HOST_A]["state"] == "up"

    resp, took = post_snapshot(api, server_b["id"], "while-b-is-down")
    assert resp.status_code == 409, resp.text
    assert HOST_B in fault_message(resp, "conflictingRequest")
    assert took < AT_ONCE_SECONDS, took
    # Nothing recorded, and B's servers still read.
    assert lh.snapshots(api, server_b["id"]) == {}
    assert lh.server(api, server_b["id"])["task_state"] is None

    assert lh.snapshot(api, server_a["id"], name="a-while-b-is-down")["status"] \
        == "available"


def test_a_disabled_host_refuses_work_naming_its_reason_until_enabled(
        running, adopted):
    api = running.api
    server_a = adopted[HOST_A]
    reason = "host-a's disks are being replaced"
    shown = set_status(api, HOST_A, "disabled", reason)
    try:
        assert (shown["status"], shown["disabled_reason"]) == ("disabled", reason)
        assert services(api)[HOST_A]["state"] == "up"  # disabled, not dead
        resp, took = post_snapshot(api, server_a["id"], "while-a-is-disabled")
        assert resp.status_code == 409, resp.text
        message = fault_message(resp, "conflictingRequest")
        assert HOST_A in message and reason in message, message
        assert took < AT_ONCE_SECONDS, took
    finally:
        set_status(api, HOST_A, "enabled")
    assert services(api)[HOST_A]["status"] == "enabled"
    assert lh.snapshot(api, server_a["id"], name="a-enabled-again")["status"] \
        == "available"


def test_a_compute_killed_while_a_snapshot_holds_its_guest_frozen_finishes_the_task_at_restart(
        running, adopted):
    api = running.api
    host = running.hosts[HOST_B]
    guest, server = host.guest, adopted[HOST_B]
    before = guest.write_random("/data/f", 128 * KIB)
    host.compute.stop()
    # The snapshot stops in its frozen window; the watchdog's cap is set
    # far beyond it, so only the kill ends it.
    compute = running.start_compute(HOST_B, {
        "fault_injection": {"failpoints": "libvirt.create.after_freeze=sleep:120"},
        "libvirt": {"max_freeze_seconds": "300"}})
    wait_for_state(api, HOST_B, "up", timeout=2 * REPORT_INTERVAL + 10)

    resp, _took = post_snapshot(api, server["id"], "interrupted")
    assert resp.status_code == 202, resp.text
    snap_id = resp.json()["snapshot"]["id"]
    api.wait_for(lambda: "Failpoint libvirt.create.after_freeze fired"
                 in compute.read_log(), timeout=60, what="the failpoint")
    assert guest.fsfreeze_status() == "frozen"
    compute.kill()
    assert lh.server(api, server["id"])["task_state"] == "snapshotting"

    running.start_compute(HOST_B)  # start-up recovery, no failpoint
    done = lh.wait_idle(api, server["id"], timeout=60)
    assert done["status"] == "ACTIVE"
    snap = lh.snapshots(api, server["id"]).get(snap_id)
    # docs/reliability.md: interrupted in the frozen window, it is rolled back.
    assert snap is not None and snap["status"] == "error", snap
    assert "interrupted by a restart" in snap["fault"]["message"], snap["fault"]
    assert guest.fsfreeze_status() == "thawed"
    guest.write_random("/data/g", 64 * KIB, timeout=30)  # writes go through
    assert guest.sha256("/data/f") == before
    assert lh.snapshot(api, server["id"], name="after-recovery")["consistency"] \
        == "application"


def test_without_the_broker_work_answers_503_reads_work_and_it_reconnects_by_itself(
        running, adopted):
    api, broker = running.api, running.broker
    server = adopted[HOST_A]
    known = lh.snapshots(api, server["id"])
    broker.stop()
    try:
        resp, took = post_snapshot(api, server["id"], "no-broker")
        assert resp.status_code == 503, resp.text
        assert fault_message(resp, "serviceUnavailable")
        assert took <= RPC_TIMEOUT + 1.0, took
        began = time.monotonic()
        resp = api.request("POST", "/v1/servers", token=lh.ADMIN, json={
            "server": {"name": "no-broker", "driver": "fake",
                       "hypervisor_ref": "adopt-without-broker"}},
            timeout=RPC_TIMEOUT + 30)
        assert resp.status_code == 503, resp.text
        assert time.monotonic() - began <= RPC_TIMEOUT + 1.0
        # Reads answer from the records; nothing was recorded.
        assert lh.server(api, server["id"])["task_state"] is None
        assert lh.snapshots(api, server["id"]) == known
        listing = api.request("GET", "/v1/servers", token=lh.ADMIN)
        assert listing.status_code == 200, listing.text
        assert not [s for s in listing.json()["servers"]
                    if s["name"] == "no-broker"]
        assert set(services(api)) == {HOST_A, HOST_B}
    finally:
        # Also after a failure above: the next tests need the broker and
        # services that found it again.
        broker.start()
        snap, reconnected = wait_until_work_is_accepted(api, server["id"])
    print(f"work accepted {reconnected:.1f} s after the broker served again")
    lh.wait_idle(api, server["id"])
    assert lh.snapshots(api, server["id"])[snap["id"]]["status"] == "available"


def wait_until_work_is_accepted(api, server_id, timeout=120):
    """Poll with snapshot requests (bounded) until one is accepted;
    (the snapshot, seconds it took)."""
    began = time.monotonic()

    def accepted():
        resp, _took = post_snapshot(api, server_id, "broker-back")
        # 409: a request sent while the broker was away got through late
        # and holds the server's lock for its task.
        if resp.status_code in (503, 409):
            return None
        assert resp.status_code == 202, resp.text
        return resp.json()["snapshot"]

    snap = api.wait_for(accepted, timeout=timeout, interval=0.5,
                        what="the services to reconnect to the broker")
    return snap, time.monotonic() - began


def test_fifty_mutations_at_once_on_one_server_over_both_workers_accept_exactly_one(
        running):
    api = running.api
    resp = api.request("POST", "/v1/servers", token=lh.ADMIN, json={"server": {
        "name": "slow-1", "driver": "fake", "hypervisor_ref": "slow-1"}})
    assert resp.status_code == 201, resp.text
    server = resp.json()["server"]
    assert server["host"] == HOST_A  # the one compute running the fake driver
    barrier = threading.Barrier(BURST)
    answers = [None] * BURST

    def send(index):
        with requests.Session() as session:
            barrier.wait(30)
            answers[index] = session.post(
                f"{api.url}/v1/servers/{server['id']}/snapshots",
                json={"snapshot": {"name": f"burst-{index}"}},
                headers={"X-Auth-Token": lh.ADMIN}, timeout=RPC_TIMEOUT + 30)

    threads = [threading.Thread(target=send, args=(i,), daemon=True)
               for i in range(BURST)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, began + 60 - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "requests still running"
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [202] + [409] * (BURST - 1), statuses
    # All answered while the winner's task still held the lock.
    assert lh.server(api, server["id"])["task_state"] == "snapshotting"
    print(f"{BURST} answers within {time.monotonic() - began:.2f} s")
    # Both workers answered some: the pid in each request's log line.
    ids = {a.headers["X-OpenStack-Request-Id"] for a in answers}
    pids = {int(m.group(1)) for m in re.finditer(
        r"^\S+ \S+ (\d+) INFO nativesnap\.api\.wsgi \[.*?\] (req-\S+) \"POST",
        api.read_log(), re.M) if m.group(2) in ids}
    assert len(pids) == API_WORKERS, pids
    lh.wait_idle(api, server["id"], timeout=FAKE_TASK_SECONDS + 30)
    assert [s["status"] for s in lh.snapshots(api, server["id"]).values()] \
        == ["available"]

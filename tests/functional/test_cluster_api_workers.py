"""nativesnap-api with ``[api] workers = 2`` over the real RabbitMQ broker and
a real PostgreSQL database, beside a nativesnap-compute with the fake driver.

Which process answered a request is read from the service's own log: every
access log line carries the pid of the process that wrote it (oslo.log's
default format) and the request id the response names in
X-OpenStack-Request-Id, and every worker logs its slot and pid when it
serves. Concurrent requests are answered by both workers; a worker killed
with SIGKILL is replaced while the other keeps answering; SIGTERM of the
parent ends every worker (and one that cannot stop is killed after
shutdown_timeout); with a broker, a sqlite database is refused before
anything is touched; and a server is adopted and snapshotted through the
two workers.

Each test has its own database, its own control exchange and its own
processes, and stops no shared service: it may run beside others."""

import concurrent.futures
import os
import re
import signal
import subprocess
import time

import pytest
import requests

from tests import fixtures


HOST = "compute-workers-1"
SERVING = re.compile(r"nativesnap-api worker (\d+) \(pid (\d+)\) serving")
ACCESS = re.compile(r"^\S+ \S+ (\d+) INFO nativesnap\.api\.wsgi .*?"
                    r"(req-[0-9a-f-]{36}) \"GET ", re.MULTILINE)


class WorkersAPI(fixtures.APIServer):
    """An APIServer of several workers: it serves once the parent says all
    its workers do (the parent's socket takes connections before that)."""

    def ready(self):
        return "nativesnap-api listening on" in self.read_log()


def messaging():
    return fixtures.broker_conf(rpc_response_timeout=10)


def workers_api(state, db_url, workers=2, **conf):
    extra = {"DEFAULT": dict(messaging(), **conf),
             "api": {"workers": str(workers)}}
    return WorkersAPI(state, db_url, extra_conf=extra)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    state = str(tmp_path_factory.mktemp("api-workers"))
    with fixtures.postgresql_database() as url:
        api = workers_api(state, url)
        api.manage("db", "sync")
        compute = fixtures.ComputeService(api, HOST, drivers=("fake",)).start()
        try:
            api.start(timeout=90)
            yield api, compute
        finally:
            api.stop()
            compute.stop()


def serving_workers(api):
    """{slot: pid} of the workers serving now (the latest of each slot)."""
    return {int(slot): int(pid) for slot, pid in SERVING.findall(api.read_log())}


def parent_of(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def alive(pid):
    """True while ``pid`` runs (a zombie, reaped by nobody, counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def answering_pids(api, requests_=120, clients=12):
    """Concurrent GETs, each on a connection of its own; the pid of the
    process that answered each, from the access log."""
    def get(_):
        resp = requests.get(api.url + "/v1/servers", timeout=30,
                            headers={"X-Auth-Token": "admin:admin-project",
                                     "Connection": "close"})
        assert resp.status_code == 200, resp.text
        return resp.headers["X-OpenStack-Request-Id"]

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        ids = set(pool.map(get, range(requests_)))
    pid_of = {}
    deadline = time.monotonic() + 10
    while len(pid_of) < len(ids) and time.monotonic() < deadline:
        pid_of = {rid: int(pid) for pid, rid in ACCESS.findall(api.read_log())
                  if rid in ids}
        time.sleep(0.05)
    assert set(pid_of) == ids, "some requests are not in the access log"
    return pid_of.values()


def until_both_answer(api, expected, attempts=5):
    """The set of answering pids, asked until it is ``expected`` (bounded:
    which worker wins a connection is the kernel's choice)."""
    seen = set()
    for _ in range(attempts):
        seen = set(answering_pids(api))
        if seen == expected:
            break
    return seen


def test_two_workers_of_one_parent_answer_concurrent_requests(cluster):
    api, _compute = cluster
    log = api.read_log()
    listening = re.findall(r"nativesnap-api listening on http://127\.0\.0\.1:"
                           rf"{api.port} \(2 workers; no drivers: computes "
                           r"over rabbit://127\.0\.0\.1:5672/\)", log)
    assert len(listening) == 1, log[-3000:]
    workers = serving_workers(api)
    assert set(workers) == {1, 2}, log[-3000:]
    assert len(set(workers.values())) == 2
    for pid in workers.values():
        assert parent_of(pid) == api.proc.pid
    assert until_both_answer(api, set(workers.values())) == \
        set(workers.values())


def test_a_server_is_adopted_and_snapshotted_through_two_workers(cluster):
    api, _compute = cluster
    resp = api.request("POST", "/v1/servers", json={"server": {
        "name": "w1", "driver": "fake", "hypervisor_ref": "x1"}})
    assert resp.status_code == 201, resp.text
    server = resp.json()["server"]
    assert (server["host"], server["driver"]) == (HOST, "fake")
    resp = api.request("POST", f"/v1/servers/{server['id']}/snapshots",
                       json={"snapshot": {"name": "s"}})
    assert resp.status_code == 202, resp.text
    snap = resp.json()["snapshot"]

    def available():
        # Read through whichever worker takes the connection.
        shown = requests.get(
            f"{api.url}/v1/servers/{server['id']}/snapshots/{snap['id']}",
            headers={"X-Auth-Token": "admin:admin-project",
                     "Connection": "close"}, timeout=30).json()["snapshot"]
        assert shown["status"] != "error", shown
        return shown["status"] == "available"

    api.wait_for(available, timeout=60, what="the snapshot to be available")
    shown = api.request("GET", f"/v1/servers/{server['id']}").json()["server"]
    assert shown["task_state"] is None


def test_a_killed_worker_is_replaced_and_the_api_keeps_answering(cluster):
    api, _compute = cluster
    before = serving_workers(api)
    victim = before[1]
    os.kill(victim, signal.SIGKILL)
    # The other worker answers at once, before the replacement serves.
    for _ in range(10):
        assert api.request("GET", "/v1/servers",
                           headers={"Connection": "close"}).status_code == 200

    def replaced():
        now = serving_workers(api)
        return now if now.get(1) not in (None, victim) else None

    after = api.wait_for(replaced, timeout=60, interval=0.1,
                         what="worker 1 to be replaced")
    assert after[2] == before[2]
    assert (f"nativesnap-api worker 1 (pid {victim}) was killed by SIGKILL: "
            "starting another") in api.read_log()
    assert parent_of(after[1]) == api.proc.pid
    assert not alive(victim)  # reaped by the parent, no zombie left
    assert until_both_answer(api, set(after.values())) == set(after.values())


def test_sigterm_of_the_parent_stops_every_worker_and_kills_a_stuck_one(
        tmp_path):
    state = str(tmp_path)
    with fixtures.postgresql_database() as url:
        api = workers_api(state, url, shutdown_timeout="2")
        api.manage("db", "sync")
        api.start(timeout=90)
        try:
            workers = serving_workers(api)
            assert set(workers) == {1, 2}
            # Worker 2 cannot take the signal: the parent must kill it.
            os.kill(workers[2], signal.SIGSTOP)
            started = time.monotonic()
            assert api.stop(timeout=30) == 0
            assert time.monotonic() - started < 15
        finally:
            api.kill()
            for pid in serving_workers(api).values():
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
    log = api.read_log()
    assert not any(alive(pid) for pid in workers.values())
    assert f"Signal {signal.SIGTERM:d} received: stopping" in log
    # The parent passed the signal on: worker 1 received it and stopped.
    assert re.search(rf"^\S+ \S+ {workers[1]} INFO \S+ \[-\] Signal 15 "
                     "received: stopping", log, re.MULTILINE), log[-3000:]
    assert (f"nativesnap-api worker 2 (pid {workers[2]}) still runs after 2 s: "
            "killed") in log
    assert "nativesnap-api stopped with its 2 workers (1 killed after 2 s)" \
        in log


def test_with_a_broker_sqlite_is_refused_before_anything_is_touched(tmp_path):
    state = tmp_path / "state"
    conf = tmp_path / "nativesnap.conf"
    database = state / "nativesnap.sqlite"
    fixtures.write_conf(str(conf), {
        "DEFAULT": dict(messaging(), state_path=str(state)),
        "api": {"host": "127.0.0.1", "port": str(fixtures.free_port()),
                "workers": "2"},
        "database": {"connection": f"sqlite:///{database}"},
    })
    for command in ("nativesnap-api", "nativesnap-compute"):
        done = subprocess.run([os.path.join(fixtures.BIN, command),
                               "--config-file", str(conf)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 1, done.stderr[-3000:]
        assert "cannot use the sqlite database" in done.stderr
        assert "several processes write this database" in done.stderr
        assert "Use PostgreSQL" in done.stderr
        assert "docs/deployment.md" in done.stderr
        assert not database.exists() and not state.exists()

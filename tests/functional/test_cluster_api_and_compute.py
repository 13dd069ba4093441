"""The API–compute seam across processes: a nativesnap-api that loads no
driver and a nativesnap-compute that runs the libvirt driver, joined by
oslo.messaging over the real RabbitMQ broker the test set-up starts and by
one PostgreSQL database. A real guest is snapshotted, reverted (the data
checked inside the guest) and its snapshot deleted through the API process
alone; with the compute service gone, the API still answers from its
records and refuses new work with a 503 naming the silent host."""


import pytest

from tests import fixtures
from tests.functional import libvirt_helpers as lh

pytest_plugins = ["tests.functional.guest_fixtures"]

KIB = 1024
HOST = "compute-1"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(api, compute) over the broker, on a database of their own; a control
    exchange of their own keeps other tests' messages apart."""
    state = str(tmp_path_factory.mktemp("cluster"))
    messaging = fixtures.broker_conf()
    with fixtures.postgresql_database() as url:
        api = fixtures.APIServer(state, url, drivers=("libvirt",),
                                 extra_conf={"DEFAULT": messaging})
        api.manage("db", "sync")
        compute = fixtures.ComputeService(api, HOST).start()
        api.start()
        try:
            yield api, compute
        finally:
            api.stop()
            compute.stop()


def test_the_api_process_loads_no_driver_and_the_compute_serves_over_rabbit(
        cluster):
    api, compute = cluster
    assert "no drivers: computes over rabbit://127.0.0.1:5672/" in api.read_log()
    assert (f"nativesnap-compute of host {HOST} serving over "
            "rabbit://127.0.0.1:5672/ (drivers: libvirt)") in compute.read_log()
    # The broker's password is never written to a log.
    password = fixtures.rabbitmq_url().split(":")[2].split("@")[0]
    assert password not in api.read_log() + compute.read_log()


def test_snapshot_revert_and_delete_of_a_real_guest_through_the_api_process(
        cluster, make_guest):
    api, compute = cluster
    guest = make_guest(disks=1)
    srv = lh.adopt(api, guest)
    assert (srv["host"], srv["status"], srv["driver"]) == (HOST, "ACTIVE",
                                                           "libvirt")
    a = guest.write_random("/data/f", 256 * KIB)
    s1 = lh.snapshot(api, srv["id"], name="s1")
    assert s1["consistency"] == "application" and s1["is_current"]
    b = guest.write_random("/data/f", 256 * KIB)
    assert a != b

    done = lh.revert(api, srv["id"], s1["id"])
    assert done["status"] == "ACTIVE"
    guest.wait_for_agent(timeout=60)
    assert guest.sha256("/data/f") == a  # read back inside the guest

    lh.delete_snapshot(api, srv["id"], s1["id"])
    assert lh.snapshots(api, srv["id"]) == {}
    guest.write_random("/data/g", 64 * KIB)  # the guest still runs and writes
    resp = api.request("DELETE", f"/v1/servers/{srv['id']}")
    assert resp.status_code == 204, resp.text
    assert guest.lookup().isActive()  # an adopted domain is only forgotten


def test_without_its_compute_the_api_answers_from_records_and_refuses_work(
        cluster, make_guest):
    api, compute = cluster
    guest = make_guest(disks=1)
    srv = lh.adopt(api, guest)
    compute.stop()
    try:
        shown = lh.server(api, srv["id"])
        assert (shown["status"], shown["task_state"]) == ("ACTIVE", None)
        resp = api.request("POST", f"/v1/servers/{srv['id']}/snapshots",
                           json={"snapshot": {"name": "nobody-takes-it"}})
        assert resp.status_code == 503, resp.text
        message = resp.json()["serviceUnavailable"]["message"]
        assert f"compute service of host {HOST} did not answer" in message
        # Refused before anything was recorded.
        assert lh.snapshots(api, srv["id"]) == {}
        assert lh.server(api, srv["id"])["task_state"] is None
    finally:
        compute.start()
    assert lh.snapshot(api, srv["id"], name="after-restart")["status"] == \
        "available"

"""A rolling upgrade's cap across processes (docs/architecture.md,
"Upgrades"): a nativesnap-api with ``[upgrade_levels] compute = 1.1`` and a
nativesnap-compute with the fake driver, over the real RabbitMQ broker and
one PostgreSQL database. A server is adopted and snapshotted through the
capped API, and the compute service's debug log shows that the Server it
was handed came as 1.2, the version RPC API 1.1 carried (this release's is
1.3, with provision_state). A cap that is no version of this release stops
nativesnap-api at start, saying which versions there are.

Each test has its own database, its own control exchange and its own
processes, and stops no shared service: it may run beside others."""


import pytest

from tests import fixtures


HOST = "compute-capped-1"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    state = str(tmp_path_factory.mktemp("capped"))
    messaging = fixtures.broker_conf(rpc_response_timeout=10)
    with fixtures.postgresql_database() as url:
        api = fixtures.APIServer(state, url, drivers=("fake",), extra_conf={
            "DEFAULT": messaging, "upgrade_levels": {"compute": "1.1"}})
        api.manage("db", "sync")
        # Debug: the compute service says which object versions it received.
        compute = fixtures.ComputeService(api, HOST, drivers=("fake",),
                                          extra_conf={"DEFAULT": {
                                              "debug": "true"}}).start()
        api.start()
        try:
            yield api, compute
        finally:
            api.stop()
            compute.stop()


def test_a_snapshot_through_a_capped_api_reaches_the_compute_backported(
        cluster):
    api, compute = cluster
    resp = api.request("POST", "/v1/servers", json={"server": {
        "name": "a", "driver": "fake", "hypervisor_ref": "x1"}})
    assert resp.status_code == 201, resp.text
    server = resp.json()["server"]
    assert server["host"] == HOST
    resp = api.request("POST", f"/v1/servers/{server['id']}/snapshots",
                       json={"snapshot": {"name": "s"}})
    assert resp.status_code == 202, resp.text
    snap = resp.json()["snapshot"]

    def available():
        shown = api.request(
            "GET", f"/v1/servers/{server['id']}/snapshots/{snap['id']}"
        ).json()["snapshot"]
        assert shown["status"] != "error", shown
        return shown["status"] == "available"

    api.wait_for(available, timeout=60, what="the snapshot to be available")
    assert api.request("GET", f"/v1/servers/{server['id']}").json()[
        "server"]["task_state"] is None
    log = compute.read_log()
    assert "Received Server 1.2 (this service's is 1.3)" in log
    assert "Received Server 1.3" not in log


@pytest.mark.parametrize("cap,says", [
    ("1.9", "compute = 1.9 is not a compute RPC API version of this release; "
            "use one of 1.0, 1.1, 1.2"),
    ("newest", "'newest' is not an RPC API version: give it as N.M"),
])
def test_a_cap_that_is_no_version_of_this_release_stops_the_api_at_start(
        tmp_path, cap, says):
    state = str(tmp_path)
    api = fixtures.APIServer(state, fixtures.sqlite_url(state), extra_conf={
        "upgrade_levels": {"compute": cap}})
    api.manage("db", "sync")
    with pytest.raises(RuntimeError, match="nativesnap-api exited with 1"):
        api.start()
    assert says in api.read_log()

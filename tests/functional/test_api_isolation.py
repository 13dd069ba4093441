"""Project isolation over HTTP: another project's servers and snapshots answer
404 on every per-resource route (exactly as an unknown id does, so nothing
leaks), listings never show them, and the admin-only routes answer 403 to
project members."""

import uuid

import pytest

from tests.functional import helpers as h


@pytest.fixture
def alice(api):
    """A fresh server of proj-a with an available snapshot."""
    server = h.adopt(api, project_id=h.PROJECT_A)
    snapshot = h.available_snapshot(api, server["id"], h.ALICE)
    return server["id"], snapshot["id"]


@pytest.fixture
def bob_server(api):
    return h.adopt(api, project_id=h.PROJECT_B)["id"]


# (method, path, body) of every per-resource route; {srv} and {snap} are
# alice's, {own} is bob's own server.
FOREIGN_ROUTES = {
    "show-server": ("GET", "/v1/servers/{srv}", None),
    "delete-server": ("DELETE", "/v1/servers/{srv}", None),
    "revert-server": ("POST", "/v1/servers/{srv}/action",
                      {"revert": {"snapshot_id": "{snap}"}}),
    "list-snapshots": ("GET", "/v1/servers/{srv}/snapshots", None),
    "create-snapshot": ("POST", "/v1/servers/{srv}/snapshots",
                        {"snapshot": {"name": "intruder"}}),
    "show-snapshot": ("GET", "/v1/servers/{srv}/snapshots/{snap}", None),
    "delete-snapshot": ("DELETE", "/v1/servers/{srv}/snapshots/{snap}", None),
    "export-snapshot": ("POST", "/v1/servers/{srv}/snapshots/{snap}/action",
                        {"export": {"image_name": "stolen"}}),
    "spawn-from-snapshot": ("POST", "/v1/servers",
                            {"server": {"name": "c", "snapshot_id": "{snap}"}}),
    "revert-own-server-to-foreign-snapshot": (
        "POST", "/v1/servers/{own}/action", {"revert": {"snapshot_id": "{snap}"}}),
    "show-foreign-snapshot-under-own-server": (
        "GET", "/v1/servers/{own}/snapshots/{snap}", None),
    "delete-foreign-snapshot-under-own-server": (
        "DELETE", "/v1/servers/{own}/snapshots/{snap}", None),
    "export-foreign-snapshot-under-own-server": (
        "POST", "/v1/servers/{own}/snapshots/{snap}/action",
        {"export": {"image_name": "stolen"}}),
}


def _fill(value, **ids):
    if isinstance(value, dict):
        return {k: _fill(v, **ids) for k, v in value.items()}
    if isinstance(value, str):
        return value.format(**ids)
    return value


def _without_ids(message, *ids):
    for i in ids:
        message = message.replace(i, "<id>")
    return message


@pytest.mark.parametrize("route", sorted(FOREIGN_ROUTES))
def test_another_projects_resource_answers_404_like_an_unknown_id_and_changes_nothing(
        api, alice, bob_server, route):
    srv, snap = alice
    method, path, body = FOREIGN_ROUTES[route]
    ids = {"srv": srv, "snap": snap, "own": bob_server}
    with h.changes_nothing(api):
        resp = api.request(method, _fill(path, **ids), token=h.BOB,
                           json=_fill(body, **ids))
        message = h.assert_fault(resp, 404)
    assert srv in message or snap in message
    # The same request with unknown ids answers the very same message.
    unknown = {"srv": str(uuid.uuid4()), "snap": str(uuid.uuid4()),
               "own": bob_server}
    resp = api.request(method, _fill(path, **unknown), token=h.BOB,
                       json=_fill(body, **unknown))
    other = h.assert_fault(resp, 404)
    assert _without_ids(message, srv, snap) == _without_ids(
        other, unknown["srv"], unknown["snap"])


def test_the_owner_and_admin_still_see_the_resources_bob_was_refused(api, alice):
    srv, snap = alice
    for token in (h.ALICE, "admin:some-other-project"):
        assert h.get_server(api, srv, token)["id"] == srv
        assert h.get_snapshot(api, srv, snap, token)["status"] == "available"


def test_listings_never_show_another_projects_servers_or_snapshots(
        api, alice, bob_server):
    srv, snap = alice
    bob_snap = h.available_snapshot(api, bob_server, h.BOB)["id"]
    limit = "?limit=1000"
    bob_servers = h.list_ids(api, "/v1/servers" + limit, h.BOB)
    bob_snaps = h.list_ids(api, "/v1/snapshots" + limit, h.BOB)
    alice_servers = h.list_ids(api, "/v1/servers" + limit, h.ALICE)
    alice_snaps = h.list_ids(api, "/v1/snapshots" + limit, h.ALICE)
    assert bob_server in bob_servers and srv not in bob_servers
    assert bob_snap in bob_snaps and snap not in bob_snaps
    assert srv in alice_servers and bob_server not in alice_servers
    assert snap in alice_snaps and bob_snap not in alice_snaps
    # Every item of a member's listing is of the member's project.
    for token, project in ((h.BOB, h.PROJECT_B), (h.ALICE, h.PROJECT_A)):
        for path, key in (("/v1/servers", "servers"), ("/v1/snapshots", "snapshots")):
            body = h.ok(api.request("GET", path + limit, token=token))
            assert {item["project_id"] for item in body[key]} == {project}
    # all_projects=0 is the member's own listing, not an admin route.
    assert h.list_ids(api, "/v1/snapshots?all_projects=0&limit=1000",
                      h.BOB) == bob_snaps


def test_a_spawned_server_belongs_to_its_snapshots_project(api, alice):
    srv, snap = alice
    child = h.spawn(api, snap, token="admin:admin-project")
    assert child["project_id"] == h.PROJECT_A
    h.assert_fault(api.request("GET", f"/v1/servers/{child['id']}", token=h.BOB),
                   404)
    assert h.get_server(api, child["id"], h.ALICE)["id"] == child["id"]


# --- admin-only routes -------------------------------------------------------------


@pytest.mark.parametrize("project_id", [None, h.PROJECT_A, h.PROJECT_B])
def test_adopt_answers_403_to_a_project_member_and_changes_nothing(api, project_id):
    server = {"name": "n", "driver": "fake", "hypervisor_ref": h.unique("vm-")}
    if project_id:
        server["project_id"] = project_id
    with h.changes_nothing(api):
        resp = api.request("POST", "/v1/servers", token=h.ALICE,
                           json={"server": server})
        h.assert_fault(resp, 403, "adopt")


def test_adopt_with_an_invalid_body_answers_403_to_a_member_before_validation(api):
    with h.changes_nothing(api):
        resp = api.request("POST", "/v1/servers", token=h.ALICE,
                           json={"server": {"bogus": 1}})
        h.assert_fault(resp, 403, "adopt")


@pytest.mark.parametrize("path", ["/v1/servers", "/v1/snapshots"])
@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_all_projects_answers_403_to_a_project_member(api, path, value):
    resp = api.request("GET", f"{path}?all_projects={value}", token=h.ALICE)
    h.assert_fault(resp, 403, "all_projects")


def test_admin_sees_every_project_with_all_projects(api, alice, bob_server):
    srv, snap = alice
    servers = h.list_ids(api, "/v1/servers?all_projects=1&limit=1000")
    snaps = h.list_ids(api, "/v1/snapshots?all_projects=true&limit=1000")
    assert {srv, bob_server} <= set(servers)
    assert snap in snaps


# --- markers -------------------------------------------------------------------------

MARKER_LISTINGS = {
    "servers": ("/v1/servers?marker={srv}", "/v1/servers?marker={unknown}"),
    "snapshots": ("/v1/snapshots?marker={snap}", "/v1/snapshots?marker={unknown}"),
    "own-server-snapshots": ("/v1/servers/{own}/snapshots?marker={snap}",
                             "/v1/servers/{own}/snapshots?marker={unknown}"),
}


@pytest.mark.parametrize("listing", sorted(MARKER_LISTINGS))
def test_another_projects_id_as_a_list_marker_answers_like_an_unknown_marker(
        api, alice, bob_server, listing):
    srv, snap = alice
    foreign, unknown = MARKER_LISTINGS[listing]
    ids = {"srv": srv, "snap": snap, "own": bob_server,
           "unknown": str(uuid.uuid4())}
    resp = api.request("GET", foreign.format(**ids), token=h.BOB)
    message = h.assert_fault(resp, 400, "marker")
    other = h.assert_fault(api.request("GET", unknown.format(**ids), token=h.BOB),
                           400, "marker")
    assert _without_ids(message, srv, snap) == _without_ids(other, ids["unknown"])

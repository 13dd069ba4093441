"""The version documents and /v1/servers over HTTP against a real
nativesnap-api: every route of the server resource and its documented answers,
plus the framework's 401, 404, 405 and 413."""

import uuid

import pytest

from tests.functional import helpers as h

SERVER_ID = "00000000-0000-4000-8000-000000000001"
SNAPSHOT_ID = "00000000-0000-4000-8000-000000000002"

# Every route that needs a token, with a method it serves.
PROTECTED = [
    ("GET", "/v1/openapi.json"),
    ("GET", "/v1/servers"),
    ("POST", "/v1/servers"),
    ("GET", f"/v1/servers/{SERVER_ID}"),
    ("DELETE", f"/v1/servers/{SERVER_ID}"),
    ("POST", f"/v1/servers/{SERVER_ID}/action"),
    ("GET", f"/v1/servers/{SERVER_ID}/snapshots"),
    ("POST", f"/v1/servers/{SERVER_ID}/snapshots"),
    ("GET", f"/v1/servers/{SERVER_ID}/snapshots/{SNAPSHOT_ID}"),
    ("DELETE", f"/v1/servers/{SERVER_ID}/snapshots/{SNAPSHOT_ID}"),
    ("POST", f"/v1/servers/{SERVER_ID}/snapshots/{SNAPSHOT_ID}/action"),
    ("GET", "/v1/snapshots"),
]


# --- version documents, openapi, framework answers ---------------------------------


def test_root_lists_version_v1_without_a_token(api):
    resp = api.request("GET", "/", token=None)
    body = h.ok(resp)
    (version,) = body["versions"]
    assert version["id"] == "v1"
    assert version["status"] == "CURRENT"
    assert (version["min_version"], version["version"]) == ("1.0", "1.2")
    assert resp.headers[h.MICROVERSION] == "snapshot 1.0"
    assert resp.headers["Vary"] == h.MICROVERSION
    assert resp.headers["X-OpenStack-Request-Id"].startswith("req-")


def test_v1_shows_its_version_document_without_a_token_and_echoes_latest(api):
    resp = api.request("GET", "/v1", token=None,
                       headers={h.MICROVERSION: "snapshot latest"})
    body = h.ok(resp)
    assert body["version"]["id"] == "v1"
    links = {link["rel"]: link["href"] for link in body["version"]["links"]}
    assert links["describedby"].endswith("/v1/openapi.json")
    assert resp.headers[h.MICROVERSION] == "snapshot 1.2"


def test_openapi_document_is_served_with_a_token_and_refused_without(api):
    body = h.ok(api.request("GET", "/v1/openapi.json", token=h.ALICE))
    assert body["openapi"].startswith("3.1")
    h.assert_fault(api.request("GET", "/v1/openapi.json", token=None), 401,
                   "X-Auth-Token")


@pytest.mark.parametrize("method,path", PROTECTED)
def test_every_protected_route_answers_401_without_a_token(api, method, path):
    resp = api.request(method, path, token=None,
                       json={} if method == "POST" else None)
    h.assert_fault(resp, 401, "X-Auth-Token")
    assert resp.headers["WWW-Authenticate"].startswith("Token")


def test_a_malformed_token_answers_401_naming_the_expected_form(api):
    resp = api.request("GET", "/v1/servers", token="no-colon-here")
    h.assert_fault(resp, 401, "<user>:<project>")


@pytest.mark.parametrize("method,path,allowed", [
    ("PUT", "/", "GET"),
    ("DELETE", "/v1/servers", "GET, POST"),
    ("PATCH", f"/v1/servers/{SERVER_ID}", "DELETE, GET"),
    ("GET", f"/v1/servers/{SERVER_ID}/action", "POST"),
    ("PUT", f"/v1/servers/{SERVER_ID}/snapshots", "GET, POST"),
    ("POST", f"/v1/servers/{SERVER_ID}/snapshots/{SNAPSHOT_ID}", "DELETE, GET"),
    ("DELETE", "/v1/snapshots", "GET"),
])
def test_a_wrong_method_answers_405_with_an_allow_header(api, method, path, allowed):
    resp = api.request(method, path, token=h.ALICE)
    h.assert_fault(resp, 405, method)
    assert resp.headers["Allow"] == allowed


@pytest.mark.parametrize("path", ["/v1/nothing", "/v2", "/v1/servers/x/y/z/w/v",
                                  f"/v1/servers/{SERVER_ID}/volumes"])
def test_an_unknown_path_answers_404_naming_it(api, path):
    h.assert_fault(api.request("GET", path, token=h.ALICE), 404, path)


def test_a_body_over_the_size_limit_answers_413_and_changes_nothing(api):
    server = h.adopt(api)
    big = b'{"snapshot": {"name": "' + b"x" * (1024 * 1024) + b'"}}'
    with h.changes_nothing(api):
        resp = api.request("POST", h.snapshot_path(server["id"]), token=h.ALICE,
                           data=big, headers={"Content-Type": "application/json"})
        h.assert_fault(resp, 413, "bytes")


# --- adopt, list, show ------------------------------------------------------------


def test_adopt_answers_201_with_location_and_the_server_in_the_given_project(api):
    ref = h.unique("vm-")
    resp = api.request("POST", "/v1/servers", json={"server": {
        "name": "adopted", "driver": "fake", "hypervisor_ref": ref,
        "project_id": h.PROJECT_A}})
    server = h.ok(resp, 201)["server"]
    assert resp.headers["Location"] == f"{api.url}/v1/servers/{server['id']}"
    assert server["name"] == "adopted"
    assert server["hypervisor_ref"] == ref
    assert server["project_id"] == h.PROJECT_A
    assert server["origin"] == "adopted"
    assert server["status"] == "ACTIVE"
    assert server["task_state"] is None
    assert server["host"] == "test-host"
    assert all(server["capabilities"].values())
    assert h.ok(api.request("GET", resp.headers["Location"], token=h.ALICE))[
        "server"]["id"] == server["id"]


def test_adopt_without_project_id_puts_the_server_in_the_admins_project(api):
    token, project = h.project_token("admin")
    server = h.adopt(api, project_id=None, token=token)
    assert server["project_id"] == project


def test_adopting_a_missing_hypervisor_object_answers_400_and_changes_nothing(api):
    ref = h.unique("missing-")
    with h.changes_nothing(api):
        resp = api.request("POST", "/v1/servers", json={"server": {
            "name": "m", "driver": "fake", "hypervisor_ref": ref}})
        h.assert_fault(resp, 400, ref)


def test_adopting_with_a_driver_not_enabled_answers_400_naming_it(api):
    with h.changes_nothing(api):
        resp = api.request("POST", "/v1/servers", json={"server": {
            "name": "m", "driver": "vmware", "hypervisor_ref": h.unique()}})
        h.assert_fault(resp, 400, "vmware", "fake")


def test_adopting_an_object_twice_answers_409_naming_the_existing_server(api):
    server = h.adopt(api)
    with h.changes_nothing(api):
        resp = api.request("POST", "/v1/servers", json={"server": {
            "name": "again", "driver": "fake",
            "hypervisor_ref": server["hypervisor_ref"]}})
        h.assert_fault(resp, 409, server["id"])


def test_server_list_shows_the_projects_servers_newest_first(api):
    token, project = h.project_token()
    first = h.adopt(api, project_id=project)
    second = h.adopt(api, project_id=project)
    body = h.ok(api.request("GET", "/v1/servers", token=token))
    assert [s["id"] for s in body["servers"]] == [second["id"], first["id"]]
    assert "servers_links" not in body
    page = h.ok(api.request("GET", "/v1/servers?limit=1", token=token))
    assert [s["id"] for s in page["servers"]] == [second["id"]]
    rest, _ = h.follow_pages(api, page["servers_links"][0]["href"], token,
                             key="servers")
    assert [s["id"] for s in rest] == [first["id"]]


def test_admin_lists_every_projects_servers_with_all_projects(api):
    a = h.adopt(api, project_id=h.PROJECT_A)
    b = h.adopt(api, project_id=h.PROJECT_B)
    everything = h.list_ids(api, "/v1/servers?all_projects=1", token=h.ADMIN)
    assert {a["id"], b["id"]} <= set(everything)
    own = h.list_ids(api, "/v1/servers", token=h.ADMIN)
    assert a["id"] not in own and b["id"] not in own


def test_server_show_answers_200_and_404_for_an_unknown_id(api):
    server = h.adopt(api)
    shown = h.get_server(api, server["id"], token=h.ALICE)
    assert shown["id"] == server["id"]
    links = {link["rel"]: link["href"] for link in shown["links"]}
    assert links["self"] == f"{api.url}/v1/servers/{server['id']}"
    unknown = str(uuid.uuid4())
    h.assert_fault(api.request("GET", f"/v1/servers/{unknown}", token=h.ALICE),
                   404, unknown)


# --- delete -----------------------------------------------------------------------


def test_deleting_an_adopted_server_answers_204_then_404(api):
    server = h.adopt(api)
    h.available_snapshot(api, server["id"], h.ALICE)
    resp = api.request("DELETE", f"/v1/servers/{server['id']}", token=h.ALICE)
    assert resp.status_code == 204, resp.text
    assert resp.content == b""
    h.assert_fault(api.request("GET", f"/v1/servers/{server['id']}", token=h.ALICE),
                   404, server["id"])
    assert h.db_query(api, "SELECT id FROM snapshots WHERE server_id = :s",
                      s=server["id"]) == []
    # Forgotten, not destroyed: the object can be adopted again.
    again = api.request("POST", "/v1/servers", json={"server": {
        "name": "again", "driver": "fake",
        "hypervisor_ref": server["hypervisor_ref"]}})
    h.ok(again, 201)


def test_deleting_an_unknown_server_answers_404(api):
    unknown = str(uuid.uuid4())
    h.assert_fault(api.request("DELETE", f"/v1/servers/{unknown}", token=h.ALICE),
                   404, unknown)


# --- spawn ---------------------------------------------------------------------------


def test_spawn_answers_202_with_location_and_a_building_server(api):
    source = h.adopt(api)
    snapshot = h.available_snapshot(api, source["id"], h.ALICE)
    resp = api.request("POST", "/v1/servers", token=h.ALICE, json={"server": {
        "name": "child", "snapshot_id": snapshot["id"], "linked": True,
        "power_on": False}})
    server = h.ok(resp, 202)["server"]
    assert resp.headers["Location"] == f"{api.url}/v1/servers/{server['id']}"
    assert server["status"] == "BUILD"
    assert server["origin"] == "spawned"
    assert server["source_snapshot_id"] == snapshot["id"]
    assert server["project_id"] == h.PROJECT_A
    assert server["linked"] is True
    done = h.wait_idle(api, server["id"], h.ALICE)
    assert done["status"] == "SHUTOFF"
    assert done["hypervisor_ref"] == f"spawned-{server['id']}"
    assert done["fault"] is None


def test_spawn_from_an_unknown_snapshot_answers_404(api):
    unknown = str(uuid.uuid4())
    with h.changes_nothing(api):
        resp = api.request("POST", "/v1/servers", token=h.ALICE, json={"server": {
            "name": "child", "snapshot_id": unknown}})
        h.assert_fault(resp, 404, unknown)


def test_deleting_a_spawned_server_answers_204_and_frees_its_snapshot(api):
    source = h.adopt(api)
    snapshot = h.available_snapshot(api, source["id"], h.ALICE)
    child = h.spawn(api, snapshot["id"], token=h.ALICE)
    resp = api.request("DELETE", f"/v1/servers/{child['id']}", token=h.ALICE)
    assert resp.status_code == 204, resp.text
    resp = api.request("DELETE", h.snapshot_path(source["id"], snapshot["id"]),
                       token=h.ALICE)
    assert h.ok(resp, 202)["snapshot"]["status"] == "deleting"


def test_deleting_a_server_whose_snapshot_has_a_linked_clone_answers_409(api):
    source = h.adopt(api)
    snapshot = h.available_snapshot(api, source["id"], h.ALICE)
    child = h.spawn(api, snapshot["id"], token=h.ALICE, linked=True)
    resp = api.request("DELETE", f"/v1/servers/{source['id']}", token=h.ALICE)
    h.assert_fault(resp, 409, child["id"])
    after = h.get_server(api, source["id"])
    assert (after["task_state"], after["fault"]) == (None, None)
    assert h.get_snapshot(api, source["id"], snapshot["id"])["status"] == "available"


# --- revert -------------------------------------------------------------------------


def test_revert_answers_202_with_location_and_makes_the_snapshot_current(api):
    server = h.adopt(api)
    first = h.available_snapshot(api, server["id"], h.ALICE)
    second = h.available_snapshot(api, server["id"], h.ALICE)
    assert second["is_current"] and second["parent_id"] == first["id"]
    resp = api.request("POST", f"/v1/servers/{server['id']}/action", token=h.ALICE,
                       json={"revert": {"snapshot_id": first["id"],
                                        "power_on": False}})
    assert resp.status_code == 202, resp.text
    assert resp.content == b""
    assert resp.headers["Location"] == f"{api.url}/v1/servers/{server['id']}"
    done = h.wait_idle(api, server["id"], h.ALICE)
    assert done["status"] == "SHUTOFF"
    assert h.get_snapshot(api, server["id"], first["id"], h.ALICE)["is_current"]
    assert not h.get_snapshot(api, server["id"], second["id"], h.ALICE)["is_current"]


def test_revert_to_an_unknown_snapshot_answers_404(api):
    server = h.adopt(api)
    unknown = str(uuid.uuid4())
    with h.changes_nothing(api):
        h.assert_fault(h.revert(api, server["id"], unknown, h.ALICE), 404, unknown)


def test_revert_to_another_servers_snapshot_answers_400_and_changes_nothing(api):
    server = h.adopt(api)
    other = h.adopt(api)
    snapshot = h.available_snapshot(api, other["id"], h.ALICE)
    with h.changes_nothing(api):
        resp = h.revert(api, server["id"], snapshot["id"], h.ALICE)
        h.assert_fault(resp, 400, snapshot["id"], server["id"])

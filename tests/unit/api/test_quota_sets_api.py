"""/v1/os-quota-sets/{project_id} through the WSGI application in-process
(sqlite, the real PolicyAPI): a project's members read their own limits,
administrators read and set anyone's and put them back to [quota]'s
defaults; bad bodies change nothing; over a limit, a snapshot is refused
with a 403 that names the limit and nothing is stored."""

import pytest

from nativesnap.common import states
from nativesnap.objects import snapshot as snapshot_obj
from tests.unit.api.test_baremetal_api import fault
from tests.unit.api.test_snapshot_policies_api import ADMIN
from tests.unit.api.test_snapshot_policies_api import OWNER
from tests.unit.api.test_snapshot_policies_api import PolicyApp
from tests.unit.api.test_snapshot_policies_api import STRANGER
from tests.unit.compute.test_baremetal_provision import register_compute

PATH = "/v1/os-quota-sets/p1"
UNLIMITED = {"id": "p1", "snapshots": -1, "snapshots_per_server": -1}


@pytest.fixture
def app(sqlite_database, default_policies):
    register_compute()
    return PolicyApp()


def _show(app, path=PATH, token=ADMIN):
    resp = app.request("GET", path, token=token)
    assert resp.status_code == 200, resp.text
    return resp.json["quota_set"]


def test_the_defaults_are_unlimited_and_members_read_their_own(app):
    assert _show(app) == UNLIMITED
    assert _show(app, token=OWNER) == UNLIMITED


def test_the_defaults_come_from_the_configuration(app, config):
    config("snapshots", 50, group="quota")
    config("snapshots_per_server", 5, group="quota")
    assert _show(app, token=OWNER) == {
        "id": "p1", "snapshots": 50, "snapshots_per_server": 5}


def test_another_projects_quotas_are_refused_to_a_member(app):
    fault(app.request("GET", PATH, token=STRANGER), 403)


@pytest.mark.parametrize("method,body", [
    ("PUT", {"quota_set": {"snapshots": 10}}),
    ("DELETE", None),
])
def test_members_may_not_change_quotas(app, method, body):
    fault(app.request(method, PATH, token=OWNER, body=body), 403)
    assert _show(app) == UNLIMITED


def test_an_administrator_sets_and_resets_a_projects_quotas(app):
    resp = app.request("PUT", PATH, token=ADMIN, body={"quota_set": {
        "snapshots": 10, "snapshots_per_server": 2}})
    assert resp.status_code == 200, resp.text
    assert resp.json["quota_set"] == {
        "id": "p1", "snapshots": 10, "snapshots_per_server": 2}
    resp = app.request("PUT", PATH, token=ADMIN, body={"quota_set": {
        "snapshots": -1}})
    assert resp.json["quota_set"]["snapshots_per_server"] == 2
    assert _show(app, token=OWNER)["snapshots"] == -1
    assert _show(app, "/v1/os-quota-sets/p2") == dict(UNLIMITED, id="p2")
    resp = app.request("DELETE", PATH, token=ADMIN)
    assert resp.status_code == 204 and resp.body == b""
    assert _show(app) == UNLIMITED


def test_usage_shows_each_limit_with_what_is_used(app):
    server = app.server()
    app.snapshot(server)
    app.snapshot(server, hours_ago=1)
    app.request("PUT", PATH, token=ADMIN, body={"quota_set": {
        "snapshots": 10}})
    resp = app.request("GET", PATH + "?usage=true", token=OWNER)
    assert resp.status_code == 200, resp.text
    shown = resp.json["quota_set"]
    assert shown["id"] == "p1"
    assert shown["snapshots"] == {"limit": 10, "in_use": 2}
    assert shown["snapshots_per_server"]["limit"] == -1
    fault(app.request("GET", PATH + "?usage=maybe", token=OWNER), 400)
    fault(app.request("GET", PATH + "?other=1", token=OWNER), 400)


@pytest.mark.parametrize("body,word", [
    ({"quota_set": {"snapshots": -2}}, "snapshots"),
    ({"quota_set": {"snapshots": "ten"}}, "snapshots"),
    ({"quota_set": {"snapshots": 2 ** 40}}, "snapshots"),
    ({"quota_set": {"snapshots_per_server": 1.5}}, "snapshots_per_server"),
    ({"quota_set": {"volumes": 1}}, "volumes"),
    ({"quota_set": {}}, "at least 1"),
    ({"snapshots": 1}, "quota_set"),
])
def test_a_bad_body_is_a_400_and_changes_nothing(app, body, word):
    resp = app.request("PUT", PATH, token=ADMIN, body=body)
    assert word in fault(resp, 400)
    assert _show(app) == UNLIMITED


@pytest.mark.parametrize("project", ["p%201", "a" * 256, "p!"])
def test_a_malformed_project_id_is_a_400(app, project):
    resp = app.request("GET", f"/v1/os-quota-sets/{project}", token=ADMIN)
    assert "project_id" in fault(resp, 400)


def test_a_keystone_project_id_is_accepted(app):
    project = "4f1c9d6e2b7a4c8d9e0f1a2b3c4d5e6f"
    assert _show(app, f"/v1/os-quota-sets/{project}")["id"] == project


def test_over_the_per_server_limit_a_snapshot_is_a_403_naming_it(app):
    server = app.server()
    app.snapshot(server)
    app.snapshot(server, hours_ago=1)
    app.request("PUT", PATH, token=ADMIN, body={"quota_set": {
        "snapshots_per_server": 2}})
    resp = app.request("POST", f"/v1/servers/{server.id}/snapshots",
                       token=OWNER, body={"snapshot": {"name": "third"}})
    message = fault(resp, 403)
    assert list(resp.json) == ["forbidden"]
    assert "snapshots_per_server" in message and "2 of 2" in message
    assert server.id in message
    assert len(snapshot_obj.ServerSnapshotList.get_all(
        app.context, server_id=server.id)) == 2
    assert app.rpc.prepared == []


def test_over_the_project_limit_a_queued_snapshot_is_refused_too(app):
    server = app.server(task_state=states.SNAPSHOTTING)
    app.snapshot(server)
    app.request("PUT", PATH, token=ADMIN, body={"quota_set": {
        "snapshots": 1}})
    resp = app.request("POST", f"/v1/servers/{server.id}/snapshots",
                       token=OWNER, headers={
                           "OpenStack-API-Version": "snapshot 1.2"},
                       body={"snapshot": {"name": "later", "queue": True}})
    assert "project p1" in fault(resp, 403)
    assert len(snapshot_obj.ServerSnapshotList.get_all(
        app.context, server_id=server.id)) == 1

"""/v1/snapshot-policies and /v1/servers/{id}/snapshot-policies through the
WSGI application in-process (sqlite, the real PolicyAPI, a recording RPC
client in place of a compute service), and microversion 1.2's additions to
the snapshot and server routes:

- a member creates, lists, shows, changes and deletes their project's
  policies; another project's answer 404; administrators see every project's
  with all_projects and may create one in another project;
- bad input answers 400 naming the field and stores nothing;
- attach and detach (409 when attached already, 404 for a policy of another
  project), the server's policies;
- a prune previews (200, dry_run) or queues its deletes (202);
- from 1.2: policy_id and scheduled_at in the snapshot view, queued in the
  server view, ``queue`` on create, delete and revert (a 400 before 1.2).
"""

import datetime
import json

from oslo_utils import timeutils
from oslo_utils import uuidutils
import pytest
import webob

from nativesnap.api import openapi
from nativesnap.api import router
from nativesnap.common import states
from nativesnap.compute import api as compute_api
from nativesnap import context as ns_context
from nativesnap.objects import policy as policy_obj
from nativesnap.objects import server as server_obj
from nativesnap.objects import snapshot as snapshot_obj
from tests.unit.api.test_baremetal_api import fault
from tests.unit.api.test_baremetal_api import NO_UUID
from tests.unit.compute.test_baremetal_provision import RecordingRPC
from tests.unit.compute.test_baremetal_provision import register_compute

ADMIN = "admin:ops"
OWNER = "alice:p1"
STRANGER = "mallory:p2"
V1_1 = {"OpenStack-API-Version": "snapshot 1.1"}
V1_2 = {"OpenStack-API-Version": "snapshot 1.2"}
BASE = "/v1/snapshot-policies"
HOURLY = {"name": "hourly", "interval_hours": 1, "keep_last": 3}


class RPC(RecordingRPC):
    def delete_snapshot(self, context, server, snapshot, reservation):
        self.casts.append(("delete_snapshot", server.id, snapshot.id))

    def revert_server(self, context, server, snapshot, power_on, reservation):
        self.casts.append(("revert_server", server.id, snapshot.id))


class PolicyApp:
    def __init__(self):
        self.rpc = RPC()
        self.app = router.make_app(compute_api.API(rpcapi=self.rpc))
        self.context = ns_context.get_admin_context()

    def request(self, method, path, token=OWNER, body=None, headers=None):
        req = webob.Request.blank(path, method=method)
        if token:
            req.headers["X-Auth-Token"] = token
        for key, value in (headers or {}).items():
            req.headers[key] = value
        if body is not None:
            req.content_type = "application/json"
            req.body = json.dumps(body).encode()
        return req.get_response(self.app)

    def create(self, token=OWNER, **fields):
        """A policy as the API made it; fields of None are left out."""
        body = {k: v for k, v in dict(HOURLY, **fields).items()
                if v is not None}
        resp = self.request("POST", BASE, token=token,
                            body={"snapshot_policy": body})
        assert resp.status_code == 201, resp.text
        return resp.json["snapshot_policy"]

    def server(self, project="p1", task_state=None):
        server = server_obj.Server(self.context)
        server.name = "vm-" + uuidutils.generate_uuid()[:8]
        server.project_id = project
        server.driver = "fake"
        server.hypervisor_ref = server.name
        server.host = "test-host"
        server.status = states.ACTIVE
        server.origin = states.ADOPTED
        server.capabilities = {"revert_any": True}
        if task_state is not None:
            server.task_state = task_state
            server.task_id = uuidutils.generate_uuid()
        server.create()
        return server

    def snapshot(self, server, policy_id=None, hours_ago=0, status=None):
        snap = snapshot_obj.ServerSnapshot(self.context)
        snap.server_id = server.id
        snap.project_id = server.project_id
        snap.name = f"s-{hours_ago}"
        snap.status = status or states.AVAILABLE
        snap.kind = "external"
        snap.memory = False
        snap.quiesce = states.QUIESCE_OFF
        snap.include_volumes = False
        snap.policy_id = policy_id
        when = timeutils.utcnow() - datetime.timedelta(hours=hours_ago)
        snap.created_at = when
        snap.scheduled_at = when if policy_id else None
        snap.create()
        return snap

    def stored_policies(self):
        return sorted(p.id for p in policy_obj.SnapshotPolicyList.get_all(
            self.context))


@pytest.fixture
def app(sqlite_database, tmp_path, config, default_policies):
    register_compute()
    yield PolicyApp()


# --- create, show, list, update, delete --------------------------------------------


def test_a_member_creates_a_policy_201_with_its_view_and_location(app):
    resp = app.request("POST", BASE, body={"snapshot_policy": dict(
        HOURLY, description="every hour", keep_daily=7)})
    assert resp.status_code == 201, resp.text
    view = resp.json["snapshot_policy"]
    assert resp.headers["Location"].endswith(f"{BASE}/{view['id']}")
    assert (view["interval_minutes"], view["cron"]) == (60, None)
    assert (view["project_id"], view["user_id"]) == ("p1", "alice")
    assert (view["keep_last"], view["keep_daily"], view["keep_yearly"]) == (
        3, 7, 0)
    assert view["timezone"] == "UTC" and view["quiesce"] == "preferred"
    assert view["memory"] is False and view["enabled"] is True
    assert view["name_template"] == policy_obj.DEFAULT_NAME_TEMPLATE
    assert view["servers"] == [] and view["last_run"] is None
    # An hourly policy runs on the hour.
    assert view["next_run"].endswith(":00:00.000000Z")
    assert view["links"][0]["href"].endswith(f"{BASE}/{view['id']}")
    shown = app.request("GET", f"{BASE}/{view['id']}")
    assert shown.json["snapshot_policy"] == view


def test_a_cron_policy_in_a_time_zone(app):
    view = app.create(interval_hours=None, cron="0 3 * * *",
                      timezone="Europe/Berlin")
    assert view["cron"] == "0 3 * * *" and view["interval_minutes"] is None
    assert view["timezone"] == "Europe/Berlin"
    assert view["next_run"] is not None


def test_a_disabled_policy_has_no_next_run(app):
    assert app.create(enabled=False)["next_run"] is None


def test_another_projects_policy_is_a_404_for_every_verb(app):
    view = app.create()
    path = f"{BASE}/{view['id']}"
    for method, body, suffix in (
            ("GET", None, ""), ("DELETE", None, ""),
            ("PUT", {"snapshot_policy": {"name": "mine"}}, ""),
            ("POST", {"prune": {}}, "/action")):
        resp = app.request(method, path + suffix, token=STRANGER, body=body)
        assert "could not be found" in fault(resp, 404)
    assert app.request("GET", path).json["snapshot_policy"]["name"] == "hourly"
    assert app.request("GET", BASE, token=STRANGER).json == {
        "snapshot_policies": []}


def test_lists_are_per_project_and_all_projects_is_for_administrators(app):
    mine = app.create()
    theirs = app.create(token=STRANGER, name="theirs")
    listed = app.request("GET", BASE).json["snapshot_policies"]
    assert [p["id"] for p in listed] == [mine["id"]]
    fault(app.request("GET", BASE + "?all_projects=1"), 403)
    every = app.request("GET", BASE + "?all_projects=1", token=ADMIN)
    assert {p["id"] for p in every.json["snapshot_policies"]} == {
        mine["id"], theirs["id"]}
    fault(app.request("GET", BASE + "?all_projects=maybe", token=ADMIN), 400)


def test_an_administrator_creates_a_policy_in_another_project(app):
    view = app.create(token=ADMIN, project_id="p1")
    assert view["project_id"] == "p1"
    assert app.request("GET", f"{BASE}/{view['id']}").status_code == 200


def test_a_member_may_not_create_one_in_another_project(app):
    resp = app.request("POST", BASE, body={"snapshot_policy": dict(
        HOURLY, project_id="p2")})
    fault(resp, 403)
    assert app.stored_policies() == []


@pytest.mark.parametrize("fields,where", [
    ({"cron": "61 * * * *"}, "cron"),
    ({"cron": "* * * *"}, "cron"),
    ({"cron": "not a cron"}, "cron"),
    ({"interval_minutes": 0}, "interval_minutes"),
    ({"interval_minutes": -5}, "interval_minutes"),
    ({"interval_hours": 0}, "interval_hours"),
    ({"interval_minutes": 1.5}, "interval_minutes"),
    ({"interval_minutes": 10 ** 12}, "interval_minutes"),
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"timezone": "../../etc/passwd"}, "timezone"),
    ({"keep_last": 0}, "retention"),
    ({"keep_last": 10001}, "keep_last"),
    ({"keep_daily": -1, "keep_last": 1}, "keep_daily"),
    ({"name_template": "{policy}-{user}"}, "name_template"),
    ({"quiesce": "sometimes"}, "quiesce"),
    ({"colour": "red"}, "colour"),
    ({"name": ""}, "name"),
])
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(app, fields,
                                                                 where):
    body = dict(HOURLY, **fields)
    if "cron" in fields:
        body.pop("interval_hours")
    resp = app.request("POST", BASE, body={"snapshot_policy": body})
    assert where in fault(resp, 400)
    assert app.stored_policies() == []


@pytest.mark.parametrize("schedule,word", [
    ({}, "schedule"),
    ({"interval_minutes": 5, "interval_hours": 1}, "only one schedule"),
    ({"interval_minutes": 5, "cron": "0 * * * *"}, "only one schedule"),
])
def test_exactly_one_schedule_is_required(app, schedule, word):
    body = dict(name="p", keep_last=1, **schedule)
    resp = app.request("POST", BASE, body={"snapshot_policy": body})
    assert word in fault(resp, 400)
    assert app.stored_policies() == []


@pytest.mark.parametrize("body", [
    None, {}, {"snapshot_policy": "x"}, {"policy": HOURLY},
    {"snapshot_policy": HOURLY, "extra": 1}])
def test_malformed_envelopes_are_a_400(app, body):
    fault(app.request("POST", BASE, body=body), 400)
    assert app.stored_policies() == []


def test_an_update_changes_the_given_fields_and_replaces_the_schedule(app):
    view = app.create(description="before")
    path = f"{BASE}/{view['id']}"
    resp = app.request("PUT", path, body={"snapshot_policy": {
        "cron": "30 2 * * 0", "timezone": "America/New_York",
        "description": None, "keep_weekly": 4, "enabled": False}})
    assert resp.status_code == 200, resp.text
    after = resp.json["snapshot_policy"]
    assert (after["cron"], after["interval_minutes"]) == ("30 2 * * 0", None)
    assert after["description"] is None and after["keep_weekly"] == 4
    assert after["keep_last"] == 3 and after["name"] == "hourly"
    resp = app.request("PUT", path, body={"snapshot_policy": {
        "interval_hours": 2}})
    assert resp.json["snapshot_policy"]["interval_minutes"] == 120
    assert resp.json["snapshot_policy"]["cron"] is None


@pytest.mark.parametrize("fields,where", [
    ({"keep_last": 0}, "retention"),
    ({"cron": "0 25 * * *"}, "cron"),
    ({"timezone": "Nowhere/Town"}, "timezone"),
    ({"interval_minutes": 0}, "interval_minutes"),
    ({"interval_minutes": 5, "cron": "* * * * *"}, "only one schedule"),
    ({"project_id": "p2"}, "project_id"),
    ({}, "at least 1"),
])
def test_a_bad_update_is_a_400_and_changes_nothing(app, fields, where):
    view = app.create()
    path = f"{BASE}/{view['id']}"
    resp = app.request("PUT", path, body={"snapshot_policy": fields})
    assert where in fault(resp, 400)
    assert app.request("GET", path).json["snapshot_policy"] == view


def test_a_deleted_policy_is_gone_and_detached_its_snapshots_stay(app):
    view = app.create()
    server = app.server()
    attach = app.request("POST", f"/v1/servers/{server.id}/snapshot-policies",
                         body={"policy_id": view["id"]})
    assert attach.status_code == 200, attach.text
    taken = app.snapshot(server, policy_id=view["id"])
    path = f"{BASE}/{view['id']}"
    resp = app.request("DELETE", path)
    assert resp.status_code == 204 and resp.body == b""
    fault(app.request("GET", path), 404)
    fault(app.request("DELETE", path), 404)
    assert app.request("GET", f"/v1/servers/{server.id}/snapshot-policies"
                       ).json == {"snapshot_policies": []}
    kept = snapshot_obj.ServerSnapshot.get_by_id(app.context, taken.id)
    assert kept.policy_id == view["id"]


def test_an_unknown_policy_is_a_404(app):
    assert "could not be found" in fault(
        app.request("GET", f"{BASE}/{NO_UUID}"), 404)
    fault(app.request("GET", f"{BASE}/not-a-uuid"), 400)


# --- attachments --------------------------------------------------------------------


def test_attach_list_and_detach(app):
    first, second = app.create(), app.create(name="daily", interval_hours=24)
    server = app.server()
    path = f"/v1/servers/{server.id}/snapshot-policies"
    for one in (first, second):
        resp = app.request("POST", path, body={"policy_id": one["id"].upper()})
        assert resp.status_code == 200, resp.text
        view = resp.json["snapshot_policy"]
        assert view["id"] == one["id"]
        [attached] = view["servers"]
        assert attached["server_id"] == server.id
        assert attached["last_run"] is None and attached["outcome"] is None
        assert attached["next_run"] is not None and attached["attached_at"]
    listed = app.request("GET", path).json["snapshot_policies"]
    assert {p["id"] for p in listed} == {first["id"], second["id"]}
    assert "already attached" in fault(
        app.request("POST", path, body={"policy_id": first["id"]}), 409)
    resp = app.request("DELETE", f"{path}/{first['id']}")
    assert resp.status_code == 204
    assert "not attached" in fault(
        app.request("DELETE", f"{path}/{first['id']}"), 404)
    assert [p["id"] for p in app.request("GET", path).json[
        "snapshot_policies"]] == [second["id"]]
    shown = app.request("GET", f"{BASE}/{first['id']}").json
    assert shown["snapshot_policy"]["servers"] == []


def test_a_policy_of_another_project_cannot_be_attached(app):
    theirs = app.create(token=STRANGER)
    server = app.server()
    path = f"/v1/servers/{server.id}/snapshot-policies"
    resp = app.request("POST", path, body={"policy_id": theirs["id"]})
    assert theirs["id"] in fault(resp, 404)
    # Not even by an administrator: the policy must be the server's project's.
    resp = app.request("POST", path, token=ADMIN,
                       body={"policy_id": theirs["id"]})
    fault(resp, 404)
    assert policy_obj.PolicyAttachmentList.get_all(
        app.context, server_id=server.id).objects == []


def test_another_projects_server_is_a_404(app):
    mine = app.create()
    server = app.server(project="p2")
    path = f"/v1/servers/{server.id}/snapshot-policies"
    fault(app.request("GET", path), 404)
    fault(app.request("POST", path, body={"policy_id": mine["id"]}), 404)
    fault(app.request("DELETE", f"{path}/{mine['id']}"), 404)


@pytest.mark.parametrize("body", [
    {}, {"policy_id": "x"}, {"policy_id": NO_UUID, "more": 1},
    {"snapshot_policy": {"policy_id": NO_UUID}}])
def test_a_bad_attach_body_is_a_400(app, body):
    server = app.server()
    resp = app.request("POST", f"/v1/servers/{server.id}/snapshot-policies",
                       body=body)
    fault(resp, 400)


# --- prune ---------------------------------------------------------------------------


def _pruned_setup(app):
    view = app.create(keep_last=1)
    server = app.server()
    app.request("POST", f"/v1/servers/{server.id}/snapshot-policies",
                body={"policy_id": view["id"]})
    old = app.snapshot(server, policy_id=view["id"], hours_ago=2)
    new = app.snapshot(server, policy_id=view["id"], hours_ago=1)
    manual = app.snapshot(server, hours_ago=3)
    return view, server, old, new, manual


def test_a_dry_run_prune_says_what_it_would_do_and_changes_nothing(app):
    view, server, old, new, manual = _pruned_setup(app)
    resp = app.request("POST", f"{BASE}/{view['id']}/action?dry_run=true",
                       body={"prune": {}})
    assert resp.status_code == 200, resp.text
    [plan] = resp.json["prune"]
    assert plan["server_id"] == server.id
    assert [k["snapshot_id"] for k in plan["keep"]] == [new.id]
    assert plan["keep"][0]["rule"] and plan["keep"][0]["scheduled_at"]
    assert [r["snapshot_id"] for r in plan["remove"]] == [old.id]
    assert manual.id not in str(resp.json)
    assert app.rpc.casts == []
    assert snapshot_obj.ServerSnapshot.get_by_id(
        app.context, old.id).status == states.AVAILABLE


def test_a_prune_queues_its_deletes_202(app):
    view, server, old, new, _ = _pruned_setup(app)
    resp = app.request("POST", f"{BASE}/{view['id']}/action",
                       body={"prune": {"server_id": server.id}})
    assert resp.status_code == 202, resp.text
    [plan] = resp.json["prune"]
    assert [r["snapshot_id"] for r in plan["remove"]] == [old.id]
    assert ("delete_snapshot", server.id, old.id) in app.rpc.casts


def test_a_prune_of_a_server_the_policy_is_not_attached_to_is_a_404(app):
    view = app.create()
    server = app.server()
    resp = app.request("POST", f"{BASE}/{view['id']}/action?dry_run=1",
                       body={"prune": {"server_id": server.id}})
    assert "not attached" in fault(resp, 404)


@pytest.mark.parametrize("query,body", [
    ("", {"prune": {"server_id": "x"}}),
    ("", {"prune": {"other": 1}}),
    ("", {"purge": {}}),
    ("", {"prune": {}, "purge": {}}),
    ("?dry_run=perhaps", {"prune": {}}),
    ("?force=1", {"prune": {}}),
])
def test_a_bad_prune_is_a_400(app, query, body):
    view = app.create()
    resp = app.request("POST", f"{BASE}/{view['id']}/action{query}", body=body)
    fault(resp, 400)


# --- microversion 1.2: the snapshot and server views, queue ------------------------------


def test_the_snapshot_view_shows_the_policy_from_1_2(app):
    view = app.create()
    server = app.server()
    snap = app.snapshot(server, policy_id=view["id"])
    path = f"/v1/servers/{server.id}/snapshots/{snap.id}"
    old = app.request("GET", path, headers=V1_1).json["snapshot"]
    assert "policy_id" not in old and "scheduled_at" not in old
    new = app.request("GET", path, headers=V1_2).json["snapshot"]
    assert new["policy_id"] == view["id"]
    assert new["scheduled_at"].endswith("Z")
    assert "images" in new
    listed = app.request("GET", "/v1/snapshots", headers=V1_2).json
    assert listed["snapshots"][0]["policy_id"] == view["id"]


def test_the_server_view_shows_its_queue_from_1_2(app):
    server = app.server(task_state=states.SNAPSHOTTING)
    path = f"/v1/servers/{server.id}"
    assert "queued" not in app.request("GET", path, headers=V1_1).json["server"]
    assert app.request("GET", path, headers=V1_2).json["server"]["queued"] == []
    resp = app.request("POST", path + "/snapshots", headers=V1_2,
                       body={"snapshot": {"name": "later", "queue": True}})
    assert resp.status_code == 202, resp.text
    snap = resp.json["snapshot"]
    assert snap["status"] == states.QUEUED and snap["policy_id"] is None
    [queued] = app.request("GET", path, headers=V1_2).json["server"]["queued"]
    assert (queued["action"], queued["snapshot_id"], queued["origin"]) == (
        "create_snapshot", snap["id"], "user")
    assert queued["expires_at"] > queued["created_at"]
    listed = app.request("GET", "/v1/servers", headers=V1_2).json["servers"]
    assert [s["queued"] for s in listed if s["id"] == server.id] == [[queued]]
    assert app.rpc.casts == []


def test_a_busy_servers_plain_create_is_still_a_409(app):
    server = app.server(task_state=states.SNAPSHOTTING)
    resp = app.request("POST", f"/v1/servers/{server.id}/snapshots",
                       headers=V1_2, body={"snapshot": {"name": "now"}})
    fault(resp, 409)


@pytest.mark.parametrize("headers", [{}, V1_1])
def test_queue_needs_microversion_1_2(app, headers):
    server = app.server(task_state=states.SNAPSHOTTING)
    snap = app.snapshot(server)
    base = f"/v1/servers/{server.id}"
    for method, path, body in (
            ("POST", base + "/snapshots",
             {"snapshot": {"name": "n", "queue": True}}),
            ("POST", base + "/action",
             {"revert": {"snapshot_id": snap.id, "queue": True}}),
            ("DELETE", f"{base}/snapshots/{snap.id}?queue=true", None)):
        resp = app.request(method, path, headers=headers, body=body)
        assert "1.2" in fault(resp, 400)
    assert len(snapshot_obj.ServerSnapshotList.get_all(
        app.context, server_id=server.id)) == 1


def test_delete_and_revert_wait_in_the_queue_with_queue(app):
    server = app.server(task_state=states.SNAPSHOTTING)
    snap = app.snapshot(server)
    other = app.snapshot(server, hours_ago=1)
    base = f"/v1/servers/{server.id}"
    resp = app.request("DELETE", f"{base}/snapshots/{other.id}?queue=true",
                       headers=V1_2)
    assert resp.status_code == 202, resp.text
    resp = app.request("POST", base + "/action", headers=V1_2,
                       body={"revert": {"snapshot_id": snap.id,
                                        "queue": True}})
    assert resp.status_code == 202, resp.text
    queued = app.request("GET", base, headers=V1_2).json["server"]["queued"]
    assert [(q["action"], q["snapshot_id"]) for q in queued] == [
        ("delete_snapshot", other.id), ("revert", snap.id)]
    fault(app.request("DELETE", f"{base}/snapshots/{other.id}?queue=no&x=1",
                      headers=V1_2), 400)
    assert app.rpc.casts == []


def test_a_queued_snapshot_is_deleted_at_once(app):
    server = app.server(task_state=states.SNAPSHOTTING)
    base = f"/v1/servers/{server.id}/snapshots"
    snap = app.request("POST", base, headers=V1_2, body={"snapshot": {
        "name": "later", "queue": True}}).json["snapshot"]
    resp = app.request("DELETE", f"{base}/{snap['id']}", headers=V1_2)
    assert resp.status_code == 202, resp.text
    fault(app.request("GET", f"{base}/{snap['id']}"), 404)
    assert app.request("GET", f"/v1/servers/{server.id}", headers=V1_2).json[
        "server"]["queued"] == []


# --- the OpenAPI document ------------------------------------------------------------


def test_the_openapi_document_lists_the_new_routes():
    doc = openapi.build(router.route_list(compute_api=None),
                        router.PUBLIC_PATHS, router.AGENT_PATHS)
    paths = doc["paths"]
    assert set(paths["/v1/snapshot-policies"]) == {"get", "post"}
    assert set(paths["/v1/snapshot-policies/{policy_id}"]) == {
        "get", "put", "delete"}
    assert {"200", "202"} <= set(paths[
        "/v1/snapshot-policies/{policy_id}/action"]["post"]["responses"])
    assert set(paths["/v1/servers/{server_id}/snapshot-policies"]) == {
        "get", "post"}
    quota = paths["/v1/os-quota-sets/{project_id}"]
    assert set(quota) == {"get", "put", "delete"}
    [project] = [p for p in quota["get"]["parameters"] if p["in"] == "path"]
    assert "format" not in project["schema"]
    create = paths["/v1/snapshot-policies"]["post"]
    assert create["responses"]["201"]["content"]
    delete = paths["/v1/servers/{server_id}/snapshots/{snapshot_id}"]["delete"]
    assert [p["name"] for p in delete["parameters"] if p["in"] == "query"] == [
        "queue"]

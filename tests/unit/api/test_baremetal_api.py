"""The bare-metal routes through the WSGI application in-process (sqlite, a
recording RPC client in place of a compute service):

- the heartbeat is authenticated by the node's X-Agent-Token, never by a
  user's token: a missing or wrong token and an unknown node are the same
  401 and record nothing, the token is never logged; its body is checked
  (400) only once the agent is known; it answers 202 and resumes a waiting
  task; under keystone it bypasses auth_token; the OpenAPI document says so;
- abort_snapshot and retry_snapshot are server actions with empty-object
  bodies, owner-or-admin policies, 202 answers (retry's with the snapshot);
- the server view shows provision_state;
- a spawn may name its node ('node', administrators only by default).
"""

import json
import logging

import jsonschema
import pytest
import webob

from nativesnap.api import auth
from nativesnap.api import router
from nativesnap.api.schemas import responses
from nativesnap.common import states
from nativesnap.compute import api as compute_api
from nativesnap import context as ns_context
from nativesnap.objects import baremetal_node as node_obj
from nativesnap.objects import server as server_obj
from nativesnap.objects import snapshot as snapshot_obj
from tests.unit.compute.test_baremetal_provision import bm_server
from tests.unit.compute.test_baremetal_provision import enrol
from tests.unit.compute.test_baremetal_provision import RecordingRPC
from tests.unit.compute.test_baremetal_provision import register_compute
from tests.unit.compute.test_baremetal_provision import snapshot_of
from tests.unit.compute.test_baremetal_provision import TOKEN

ADMIN = "admin:ops"
OWNER = "alice:p1"
STRANGER = "mallory:p2"
BEAT = {"agent_url": "https://10.0.0.17:9999", "agent_version": "0.2.0"}
NO_UUID = "00000000-0000-4000-8000-000000000000"


class App:
    def __init__(self):
        self.rpc = RecordingRPC()
        self.app = router.make_app(compute_api.API(rpcapi=self.rpc))
        self.context = ns_context.get_admin_context()

    def request(self, method, path, token=None, body=None, agent_token=None,
                raw=None):
        req = webob.Request.blank(path, method=method)
        if token:
            req.headers["X-Auth-Token"] = token
        if agent_token is not None:
            req.headers[auth.AGENT_TOKEN_HEADER] = agent_token
        if body is not None or raw is not None:
            req.content_type = "application/json"
            req.body = raw if raw is not None else json.dumps(body).encode()
        return req.get_response(self.app)

    def beat(self, node_id, body=BEAT, agent_token=TOKEN, suffix="",
             **kwargs):
        return self.request(
            "POST", f"/v1/baremetal/nodes/{node_id}/heartbeat{suffix}",
            body=body, agent_token=agent_token, **kwargs)

    def node(self, node_id):
        return node_obj.BaremetalNode.get_by_id(self.context, node_id)

    def action(self, server_id, body, token=OWNER):
        return self.request("POST", f"/v1/servers/{server_id}/action",
                            token=token, body=body)


@pytest.fixture
def app(sqlite_database, tmp_path, config, default_policies):
    register_compute()
    yield App()


def fault(resp, code):
    assert resp.status_code == code, resp.text
    [(_, detail)] = resp.json.items()
    assert detail["code"] == code
    return detail["message"]


def unchanged(app, node):
    again = app.node(node.id)
    assert again.last_heartbeat_at is None and again.agent_version is None
    assert again.agent_url == node.agent_url


# --- heartbeat: who may send it -------------------------------------------------


def test_a_heartbeat_with_the_nodes_token_is_recorded_and_resumes_the_wait(
        app):
    node = enrol(app.context)
    waiting = bm_server(app.context, node.id,
                        provision_state=states.PROVISION_SNAPSHOT_WAIT,
                        task_state=states.SNAPSHOT_WAIT)
    resp = app.beat(node.id)  # no X-Auth-Token at all
    assert resp.status_code == 202 and resp.body == b"", resp.text
    again = app.node(node.id)
    assert (again.agent_url, again.agent_version) == (
        BEAT["agent_url"], BEAT["agent_version"])
    assert again.last_heartbeat_at is not None
    assert app.rpc.casts == [("resume_task", waiting.id, {"heartbeat": BEAT})]


def test_a_heartbeat_without_a_waiting_task_is_recorded_only(app):
    node = enrol(app.context)
    bm_server(app.context, node.id)
    assert app.beat(node.id.upper(), suffix="/").status_code == 202
    assert app.node(node.id).agent_version == "0.2.0"
    assert app.rpc.casts == []


@pytest.mark.parametrize("agent_token", [None, "", TOKEN + "x", TOKEN[:-1],
                                         "agent-token-\u00e9" + "t" * 20])
def test_a_missing_or_wrong_token_is_a_401_and_records_nothing(app,
                                                              agent_token):
    node = enrol(app.context)
    bm_server(app.context, node.id, task_state=states.SNAPSHOT_WAIT,
              provision_state=states.PROVISION_SNAPSHOT_WAIT)
    resp = app.beat(node.id, agent_token=agent_token)
    assert "X-Agent-Token" in fault(resp, 401)
    assert resp.headers["WWW-Authenticate"]
    unchanged(app, node)
    assert app.rpc.casts == []


def test_a_user_token_does_not_replace_the_agent_token(app):
    node = enrol(app.context)
    fault(app.beat(node.id, agent_token=None, token=ADMIN), 401)
    unchanged(app, node)


def test_another_nodes_token_is_refused(app):
    node = enrol(app.context)
    other = node_obj.BaremetalNode(app.context)
    other.name, other.agent_url = "other", "https://10.0.0.6:9999"
    other.agent_token = "another-token-" + "o" * 20
    other.create()
    fault(app.beat(node.id, agent_token=other.agent_token), 401)
    unchanged(app, node)


@pytest.mark.parametrize("node_id", [NO_UUID, "not-a-uuid", "rack1-n1"])
def test_an_unknown_node_is_the_same_401_as_a_wrong_token(app, node_id):
    node = enrol(app.context, name="rack1-n1")
    unknown = fault(app.beat(node_id), 401)
    wrong = fault(app.beat(node.id, agent_token="x" * 20), 401)
    assert unknown == wrong


def test_the_token_is_checked_before_the_body(app):
    node = enrol(app.context)
    fault(app.beat(node.id, agent_token="wrong", raw=b"{not json"), 401)
    fault(app.beat(node.id, agent_token="wrong", body={"x": 1}), 401)
    fault(app.beat(NO_UUID, body={"x": 1}), 401)


def test_other_methods_on_the_heartbeat_are_refused(app):
    node = enrol(app.context)
    fault(app.request("GET", f"/v1/baremetal/nodes/{node.id}/heartbeat"), 401)
    resp = app.request("GET", f"/v1/baremetal/nodes/{node.id}/heartbeat",
                       agent_token=TOKEN)
    fault(resp, 405)
    assert resp.headers["Allow"] == "POST"


def test_the_agent_token_opens_no_other_route(app):
    node = enrol(app.context)
    for method, path in (("GET", f"/v1/baremetal/nodes/{node.id}"),
                         ("GET", "/v1/servers"),
                         ("DELETE", f"/v1/baremetal/nodes/{node.id}")):
        fault(app.request(method, path, agent_token=TOKEN), 401)
    assert app.node(node.id).id == node.id


def test_the_token_is_never_logged(app, caplog):
    node = enrol(app.context)
    wrong = "wrong-token-" + "w" * 20
    with caplog.at_level(logging.DEBUG):
        app.beat(node.id)
        app.beat(node.id, agent_token=wrong)
        app.beat(NO_UUID, agent_token=wrong)
        app.beat(node.id, body={"agent_url": TOKEN, "agent_version": TOKEN})
    assert "heartbeat" in caplog.text  # the requests were logged
    assert "Refused an agent request" in caplog.text
    assert TOKEN not in caplog.text and wrong not in caplog.text


# --- heartbeat: the body --------------------------------------------------------


@pytest.mark.parametrize("body,where", [
    ({"agent_url": "https://10.0.0.5:9999"}, "agent_version"),
    ({"agent_version": "1"}, "agent_url"),
    (dict(BEAT, extra=1), "extra"),
    (dict(BEAT, agent_url="ftp://10.0.0.5"), "agent_url"),
    (dict(BEAT, agent_url="https://u:p@10.0.0.5"), "agent_url"),
    (dict(BEAT, agent_url="https://10.0.0.5:99999"), "agent_url"),
    (dict(BEAT, agent_url="https://h/" + "a" * 2048), "agent_url"),
    (dict(BEAT, agent_url=5), "agent_url"),
    (dict(BEAT, agent_version="v" * 65), "agent_version"),
    (dict(BEAT, agent_version=""), "agent_version"),
    (dict(BEAT, agent_version="1.0\n"), "agent_version"),
    (dict(BEAT, agent_version=None), "agent_version"),
    ([BEAT], "body"),
    ({"heartbeat": BEAT}, "agent_url"),
])
def test_a_bad_body_is_a_400_and_records_nothing(app, body, where):
    node = enrol(app.context)
    assert where in fault(app.beat(node.id, body=body), 400)
    unchanged(app, node)


def test_a_body_that_is_not_json_is_a_400(app):
    node = enrol(app.context)
    fault(app.beat(node.id, raw=b"{not json"), 400)
    unchanged(app, node)


def test_the_longest_valid_body_is_accepted(app):
    node = enrol(app.context)
    body = {"agent_url": "http://[fd00::5]:9999/" + "a" * 2026,
            "agent_version": "v" * 64}
    assert len(body["agent_url"]) == 2048
    assert app.beat(node.id, body=body).status_code == 202
    assert app.node(node.id).agent_url == body["agent_url"]


# --- heartbeat: keystone and the OpenAPI document -------------------------------


def test_under_keystone_the_heartbeat_bypasses_auth_token(monkeypatch):
    from keystonemiddleware import auth_token

    seen = []
    monkeypatch.setattr(auth_token, "AuthProtocol",
                        lambda app, conf: lambda env, start: seen.append(
                            ("protected", env["PATH_INFO"])))
    dispatch = auth.wrap_keystone(
        None, lambda env, start: seen.append(("public", env["PATH_INFO"])),
        router.PUBLIC_PATHS, router.AGENT_PATHS)
    for path in ("/v1", f"/v1/baremetal/nodes/{NO_UUID}/heartbeat",
                 f"/v1/baremetal/nodes/{NO_UUID}/heartbeat/",
                 f"/v1/baremetal/nodes/{NO_UUID}",
                 f"/v1/baremetal/nodes/{NO_UUID}/heartbeat/x",
                 f"/v1/baremetal/nodes/{NO_UUID}/heartbeat\n"):
        dispatch({"PATH_INFO": path}, None)
    assert [who for who, _ in seen] == ["public", "public", "public",
                                        "protected", "protected", "protected"]


def test_the_openapi_document_says_the_heartbeat_takes_the_agent_token(app):
    doc = app.request("GET", "/v1/openapi.json", token=ADMIN).json
    op = doc["paths"]["/v1/baremetal/nodes/{node_id}/heartbeat"]["post"]
    assert op["security"] == [{"agentToken": []}]
    scheme = doc["components"]["securitySchemes"]["agentToken"]
    assert (scheme["in"], scheme["name"]) == ("header", "X-Agent-Token")
    assert {"202", "400", "401"} <= set(op["responses"])
    assert "403" not in op["responses"]
    assert "X-Agent-Token" in op["responses"]["401"]["description"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["agent_url", "agent_version"]
    # Every other operation keeps the document's X-Auth-Token.
    others = [o for p, item in doc["paths"].items() for o in item.values()
              if not p.endswith("/heartbeat") and o.get("security") != []]
    assert others and all("security" not in o for o in others)


# --- abort_snapshot and retry_snapshot ------------------------------------------


def test_abort_of_a_failed_snapshot_answers_202_without_a_body(app):
    server = bm_server(app.context, enrol(app.context).id,
                       provision_state=states.PROVISION_SNAPSHOT_FAILED)
    resp = app.action(server.id, {"abort_snapshot": {}})
    assert resp.status_code == 202 and resp.body == b"", resp.text
    assert resp.headers["Location"].endswith(f"/v1/servers/{server.id}")
    assert server_obj.Server.get_by_id(
        app.context, server.id).provision_state == states.PROVISION_ACTIVE


def test_abort_of_a_waiting_snapshot_casts_abort_task(app):
    server = bm_server(app.context, enrol(app.context).id,
                       provision_state=states.PROVISION_SNAPSHOT_WAIT,
                       task_state=states.SNAPSHOT_WAIT)
    assert app.action(server.id, {"abort_snapshot": {}},
                      token=ADMIN).status_code == 202
    assert app.rpc.casts == [("abort_task", server.id)]


def test_retry_answers_202_with_the_snapshot_taken_again(app):
    server = bm_server(app.context, enrol(app.context).id,
                       provision_state=states.PROVISION_SNAPSHOT_FAILED)
    failed = snapshot_of(app.context, server, states.ERROR)
    resp = app.action(server.id, {"retry_snapshot": {}})
    assert resp.status_code == 202, resp.text
    shown = resp.json["snapshot"]
    assert (shown["id"], shown["status"], shown["fault"], shown["progress"]) \
        == (failed.id, states.CREATING, None, 0)
    jsonschema.validate(shown, responses.snapshot)
    assert resp.headers["Location"].endswith(
        f"/v1/servers/{server.id}/snapshots/{failed.id}")
    assert app.rpc.casts[-1][:3] == ("create_snapshot", server.id, failed.id)


@pytest.mark.parametrize("action", ["abort_snapshot", "retry_snapshot"])
def test_a_server_of_another_driver_is_a_400(app, action):
    server = bm_server(app.context, "vm-1", driver="fake",
                       provision_state=None)
    assert action in fault(app.action(server.id, {action: {}}), 400)


@pytest.mark.parametrize("action", ["abort_snapshot", "retry_snapshot"])
def test_an_active_server_is_a_409(app, action):
    server = bm_server(app.context, enrol(app.context).id)
    snapshot_of(app.context, server, states.ERROR)
    assert "provision state 'active'" in fault(
        app.action(server.id, {action: {}}), 409)
    assert app.rpc.casts == []


@pytest.mark.parametrize("action", ["abort_snapshot", "retry_snapshot"])
@pytest.mark.parametrize("args", [None, [], {"x": 1}, "", {"force": True}])
def test_an_action_body_other_than_an_empty_object_is_a_400(app, action,
                                                            args):
    server = bm_server(app.context, enrol(app.context).id,
                       provision_state=states.PROVISION_SNAPSHOT_FAILED)
    fault(app.action(server.id, {action: args}), 400)
    assert server_obj.Server.get_by_id(
        app.context, server.id).provision_state == \
        states.PROVISION_SNAPSHOT_FAILED


@pytest.mark.parametrize("action", ["abort_snapshot", "retry_snapshot"])
def test_another_projects_server_is_a_404(app, action):
    server = bm_server(app.context, enrol(app.context).id,
                       provision_state=states.PROVISION_SNAPSHOT_FAILED)
    fault(app.action(server.id, {action: {}}, token=STRANGER), 404)


def test_the_policies_are_owner_or_admin():
    rules = {r.name: r.check_str for r in policy_rules()}
    for action in ("abort_snapshot", "retry_snapshot"):
        assert rules[f"nativesnap:servers:{action}"] == \
            "rule:project_member_or_admin"
    assert rules["nativesnap:servers:spawn:node"] == "rule:context_is_admin"


def policy_rules():
    from nativesnap import policies
    return policies.list_rules()


# --- the server view ------------------------------------------------------------


def test_the_view_shows_the_provision_state_or_null(app):
    bm = bm_server(app.context, enrol(app.context).id,
                   provision_state=states.PROVISION_SNAPSHOT_WAIT)
    other = bm_server(app.context, "vm-1", driver="fake",
                      provision_state=None)
    for server, expected in ((bm, "snapshot wait"), (other, None)):
        shown = app.request("GET", f"/v1/servers/{server.id}",
                            token=OWNER).json["server"]
        assert shown["provision_state"] == expected
        jsonschema.validate(shown, responses.server)
    listed = app.request("GET", "/v1/servers", token=OWNER).json["servers"]
    assert {s["id"]: s["provision_state"] for s in listed} == {
        bm.id: "snapshot wait", other.id: None}


# --- spawn with a node ----------------------------------------------------------


def spawn(app, snapshot, token=ADMIN, **extra):
    return app.request("POST", "/v1/servers", token=token, body={"server": dict(
        name="copy", snapshot_id=snapshot.id, linked=False, **extra)})


@pytest.fixture
def source(app):
    server = bm_server(app.context, enrol(app.context).id)
    return snapshot_of(app.context, server, states.AVAILABLE)


def test_an_administrator_names_the_node(app, source):
    node = enrol(app.context, name="rack1-n9")
    resp = spawn(app, source, node="rack1-n9")
    assert resp.status_code == 202, resp.text
    shown = resp.json["server"]
    assert shown["hypervisor_ref"] == node.id
    assert shown["provision_state"] == states.PROVISION_DEPLOYING


def test_a_member_spawns_on_the_first_free_node_but_may_not_name_one(
        app, source):
    node = enrol(app.context)
    fault(spawn(app, source, token=OWNER, node=node.id), 403)
    resp = spawn(app, source, token=OWNER)
    assert resp.status_code == 202, resp.text
    assert resp.json["server"]["hypervisor_ref"] == node.id


def test_spawn_node_errors(app, source):
    assert "no bare-metal node" in fault(spawn(app, source, node="nope"), 400)
    fault(spawn(app, source, node=""), 400)
    fault(spawn(app, source, node=5), 400)
    fault(spawn(app, source, node="a\nb"), 400)
    assert "No enrolled bare-metal node is free" in fault(spawn(app, source),
                                                          409)
    taken = source.server_id
    node_id = server_obj.Server.get_by_id(app.context, taken).hypervisor_ref
    assert taken in fault(spawn(app, source, node=node_id), 409)
    assert len(server_obj.ServerList.get_all(app.context)) == 1


def test_a_node_for_another_drivers_snapshot_is_a_400(app):
    server = bm_server(app.context, "vm-1", driver="fake",
                       provision_state=None)
    snap = snapshot_of(app.context, server, states.AVAILABLE)
    enrol(app.context)
    assert "bare-metal node" in fault(spawn(app, snap, node="x"), 400)
    assert len(snapshot_obj.ServerSnapshotList.get_all(app.context)) == 1

"""os-assisted-volume-snapshots through the WSGI application in-process (fake
driver, fake Cinder, sqlite): Nova's bodies and answers, file names that are
not plain names refused with 400 before anything is done, policy checked
first (403), the /v2.1 routes Cinder's Nova client calls with Nova's
microversion headers, and the admin listing with its paging."""

import json
import time
import urllib.parse

from oslo_utils import uuidutils
import pytest
import webob

from nativesnap.api import router
from nativesnap.api.schemas import assisted_volume_snapshots as schema
from nativesnap.api import validation
from nativesnap.common import states
from nativesnap import context as ns_context
from nativesnap import exception
from nativesnap.common import rpc
from nativesnap.compute import api as compute_api
from nativesnap.compute import manager as compute_manager
from nativesnap.compute import task_runner
from nativesnap.objects import volume_operation as operation_obj
from nativesnap import policy
from nativesnap.virt import fake
from tests.unit.compute.conftest import CastsAsCalls

ADMIN = "admin:c1nder"
CINDER_NOT_ADMIN = "cinder:c1nder"  # noauth2: only the user admin has a role
MEMBER = "alice:p1"
WAIT = 15
DEFAULT = object()

BAD_FILE_NAMES = ["sub/volume-x", "/abs/volume-x", "../volume-x", "..", ".",
                  "volume..x", "", "volume\x00x", "volume\nx", "volume\x7fx",
                  "volume\x85x", "nbd:127.0.0.1:10809", "json:{}", "v" * 256, 5,
                  None, ["volume-x"]]


class RecordingCinder:
    def __init__(self):
        self.calls = []

    def update_snapshot_status(self, project_id, snapshot_id, status,
                               progress=None, context=None):
        self.calls.append((project_id, snapshot_id, status, progress))


class App:
    def __init__(self, tmp_path):
        self.driver = fake.FakeDriver()
        self.cinder = RecordingCinder()
        self.runner = task_runner.TaskRunner(workers=2, queue_size=2,
                                             cancel_grace=0.2,
                                             watchdog_interval=0.05)
        self.compute = compute_manager.ComputeManager(
            host="test-host", drivers={"fake": self.driver}, runner=self.runner,
            image_store=object(), volume_api=self.cinder)
        self.context = ns_context.get_admin_context()
        self.compute.start(self.context, sync_interval=0)
        self.api = compute_api.API(rpcapi=CastsAsCalls())
        self.app = router.make_app(self.api)
        self.server = self.api.adopt_server(self.context, "vm", "fake", "vm-1",
                                            "p1")
        self.volume_id = uuidutils.generate_uuid()
        self.driver.attach_volume("vm-1", self.volume_id)
        # What the compute service does when the driver reports the disk.
        self.compute.sync_server(self.context, self.server)

    def request(self, method, path, token=ADMIN, body=None, headers=None):
        req = webob.Request.blank(path, method=method)
        if token:
            req.headers["X-Auth-Token"] = token
        for key, value in (headers or {}).items():
            req.headers[key] = value
        if body is not None:
            req.content_type = "application/json"
            req.body = json.dumps(body).encode()
        return req.get_response(self.app)

    def create_body(self, new_file=DEFAULT, snapshot_id=None, **extra):
        snapshot_id = snapshot_id or uuidutils.generate_uuid()
        info = {"snapshot_id": snapshot_id, "type": "qcow2",
                "new_file": (f"volume-{self.volume_id}.{snapshot_id}"
                             if new_file is DEFAULT else new_file)}
        info.update(extra)
        return {"snapshot": {"volume_id": self.volume_id, "create_info": info}}

    def delete_path(self, snapshot_id=None, prefix="/v1", **delete_info):
        info = {"type": "qcow2", "volume_id": self.volume_id,
                "file_to_merge": None, "merge_target_file": None}
        info.update(delete_info)
        return (f"{prefix}/os-assisted-volume-snapshots/"
                f"{snapshot_id or uuidutils.generate_uuid()}?delete_info="
                f"{urllib.parse.quote(json.dumps(info))}")

    def chain(self):
        return self.driver.volume_chain(self.volume_id)

    def operations(self):
        return list(operation_obj.AssistedVolumeOperationList.get_all(
            self.context))

    def wait_idle(self):
        deadline = time.monotonic() + WAIT
        while self.runner.running():
            assert time.monotonic() < deadline, "tasks still running"
            time.sleep(0.02)


@pytest.fixture
def app(sqlite_database, tmp_path, config, default_policies):
    config("state_path", str(tmp_path))
    application = App(tmp_path)
    yield application
    application.compute.stop_serving()
    application.runner.shutdown(WAIT)
    rpc.cleanup()


def fault(resp, code):
    assert resp.status_code == code, resp.text
    [(name, detail)] = resp.json.items()
    assert detail["code"] == code
    return detail["message"]


# --- schemas ------------------------------------------------------------------


@pytest.mark.parametrize("name", BAD_FILE_NAMES, ids=repr)
def test_the_schemas_refuse_a_file_name_that_is_not_a_plain_name(name):
    body = {"snapshot": {"volume_id": uuidutils.generate_uuid(), "create_info": {
        "snapshot_id": uuidutils.generate_uuid(), "type": "qcow2",
        "new_file": name}}}
    with pytest.raises(exception.ValidationError):
        validation.validate(schema.create, body)
    for key in ("file_to_merge", "merge_target_file"):
        if name is None:
            continue  # null is how delete_info says "none"
        info = {"type": "qcow2", "volume_id": uuidutils.generate_uuid(),
                "file_to_merge": "volume-a.b", "merge_target_file": "volume-a"}
        info[key] = name
        with pytest.raises(exception.ValidationError):
            validation.validate(schema.delete_info, info)


@pytest.mark.parametrize("name", ["volume-0b1a4c8e-7f0e-4c38-9a55-9d5f4f1e2c3a",
                                  "volume-0b1a4c8e.4c38-9a55", "v", "v" * 255,
                                  "volume x é"])
def test_the_schemas_accept_cinder_s_file_names(name):
    validation.validate(schema.create, {"snapshot": {
        "volume_id": uuidutils.generate_uuid(), "create_info": {
            "snapshot_id": uuidutils.generate_uuid(), "type": "qcow2",
            "new_file": name, "id": "any id"}}})
    validation.validate(schema.delete_info, {
        "type": "qcow2", "volume_id": uuidutils.generate_uuid(),
        "file_to_merge": name, "merge_target_file": None})


@pytest.mark.parametrize("name", BAD_FILE_NAMES, ids=repr)
def test_a_create_naming_a_bad_new_file_answers_400_and_changes_nothing(
        app, name):
    resp = app.request("POST", "/v1/os-assisted-volume-snapshots",
                       body=app.create_body(new_file=name))
    message = fault(resp, 400)
    assert "new_file" in message
    app.wait_idle()
    assert app.chain() == [f"volume-{app.volume_id}"]
    assert app.operations() == [] and app.cinder.calls == []


@pytest.mark.parametrize("info", [
    {"type": "raw"}, {"extra": 1}, {"file_to_merge": "../x"},
    {"merge_target_file": "volume-a", "file_to_merge": None},
    {"volume_id": "not-a-uuid"}])
def test_a_delete_with_a_bad_delete_info_answers_400_and_changes_nothing(
        app, info):
    resp = app.request("DELETE", app.delete_path(**info))
    assert "delete_info" in fault(resp, 400)
    app.wait_idle()
    assert app.chain() == [f"volume-{app.volume_id}"]
    assert app.operations() == [] and app.cinder.calls == []


@pytest.mark.parametrize("query,what", [
    ("", "delete_info"), ("delete_info=%7Bnot%20json", "not valid JSON"),
    ("delete_info=%5B%5D", "type object"),
    ("delete_info=" + urllib.parse.quote(
        '{"type": "qcow2", "volume_id": "0b1a4c8e-7f0e-4c38-9a55-9d5f4f1e2c3a", '
        '"file_to_merge": "\\ud800", "merge_target_file": null}'), "surrogate"),
    ("delete_info=%7B%7D&other=1", "other")])
def test_a_delete_info_that_is_missing_or_not_json_answers_400(app, query, what):
    resp = app.request(
        "DELETE", f"/v1/os-assisted-volume-snapshots/{uuidutils.generate_uuid()}"
                  f"?{query}")
    assert what in fault(resp, 400)
    assert app.operations() == []


# --- policy ---------------------------------------------------------------------


@pytest.mark.parametrize("method,path,body", [
    ("POST", "/v1/os-assisted-volume-snapshots", {"snapshot": "not even valid"}),
    ("POST", "/v2.1/os-assisted-volume-snapshots", {}),
    ("DELETE", "/v1/os-assisted-volume-snapshots/"
               "6d95f8f4-64bc-42d0-8b7f-a85c02c74766", None),
    ("DELETE", "/v2.1/os-assisted-volume-snapshots/"
               "0c1f3a52-5a1e-4d0b-9b0e-3f5f8e2d7a61?delete_info=garbage", None),
    ("GET", "/v1/os-assisted-volume-snapshots?limit=nope", None)])
@pytest.mark.parametrize("token", [MEMBER, CINDER_NOT_ADMIN])
def test_a_caller_without_admin_or_service_role_gets_403_before_validation(
        app, method, path, body, token):
    resp = app.request(method, path, token=token, body=body)
    assert "os_assisted_volume_snapshots" in fault(resp, 403)
    assert app.operations() == []


def test_the_service_role_may_call_it(app):
    context = ns_context.RequestContext(user_id="cinder", project_id="c1nder",
                                        roles=["service"])
    for action in ("create", "delete", "list"):
        assert policy.authorize(
            context, f"nativesnap:os_assisted_volume_snapshots:{action}", {})


# --- answers and the /v2.1 routes ----------------------------------------------


def test_create_answers_200_with_nova_s_body_and_the_work_follows(app):
    body = app.create_body(id="nova-side-id")
    resp = app.request("POST", "/v1/os-assisted-volume-snapshots", body=body)
    assert resp.status_code == 200, resp.text
    assert resp.json == {"snapshot": {"id": "nova-side-id",
                                      "volumeId": app.volume_id}}
    app.wait_idle()
    new_file = body["snapshot"]["create_info"]["new_file"]
    assert app.chain()[0] == new_file
    assert app.cinder.calls == [("c1nder", body["snapshot"]["create_info"][
        "snapshot_id"], "creating", "90%")]


def test_delete_answers_204_without_a_body(app):
    app.request("POST", "/v1/os-assisted-volume-snapshots",
                body=app.create_body())
    app.wait_idle()
    snapshot_id = uuidutils.generate_uuid()
    resp = app.request("DELETE", app.delete_path(snapshot_id))
    assert (resp.status_code, resp.body) == (204, b"")
    app.wait_idle()
    assert app.chain() == [app.chain()[0]]
    assert app.cinder.calls[-1] == ("c1nder", snapshot_id, "deleting", "90%")


@pytest.mark.parametrize("headers", [
    {}, {"X-OpenStack-Nova-API-Version": "2.1"},
    {"OpenStack-API-Version": "compute 2.1"},
    {"X-OpenStack-Nova-API-Version": "2.1",
     "OpenStack-API-Version": "compute 2.1"},
    {"OpenStack-API-Version": "compute latest"},
    # nativesnap's own version is not negotiated on Nova's routes.
    {"OpenStack-API-Version": "snapshot 9.9, compute 2.1"}])
def test_v2_1_routes_take_nova_s_microversion_headers_and_answer_with_them(
        app, headers):
    resp = app.request("POST", "/v2.1/os-assisted-volume-snapshots",
                       body=app.create_body(), headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["X-OpenStack-Nova-API-Version"] == "2.1"
    assert resp.headers["OpenStack-API-Version"] == "compute 2.1"
    app.wait_idle()
    resp = app.request("DELETE", app.delete_path(prefix="/v2.1"), headers=headers)
    assert resp.status_code == 204, resp.text
    assert resp.headers["X-OpenStack-Nova-API-Version"] == "2.1"


@pytest.mark.parametrize("headers,code", [
    ({"X-OpenStack-Nova-API-Version": "2.60"}, 406),
    ({"OpenStack-API-Version": "compute 3.0"}, 406),
    ({"X-OpenStack-Nova-API-Version": "two"}, 400),
    ({"OpenStack-API-Version": "compute"}, 400)])
def test_v2_1_routes_refuse_another_compute_version(app, headers, code):
    resp = app.request("POST", "/v2.1/os-assisted-volume-snapshots",
                       body=app.create_body(), headers=headers)
    fault(resp, code)
    assert resp.headers["X-OpenStack-Nova-API-Version"] == "2.1"
    assert app.operations() == []


def test_v1_routes_keep_nativesnap_s_own_microversion(app):
    resp = app.request("GET", "/v1/os-assisted-volume-snapshots")
    assert resp.headers["OpenStack-API-Version"] == "snapshot 1.0"
    assert "X-OpenStack-Nova-API-Version" not in resp.headers
    resp = app.request("GET", "/v1/os-assisted-volume-snapshots",
                       headers={"OpenStack-API-Version": "snapshot 9.9"})
    fault(resp, 406)


def test_v2_1_serves_only_create_and_delete(app):
    resp = app.request("GET", "/v2.1/os-assisted-volume-snapshots")
    assert resp.status_code == 405 and resp.headers["Allow"] == "POST"
    fault(app.request("GET", "/v2.1/servers"), 404)


def test_an_unknown_volume_answers_400_and_is_listed_as_refused(app):
    body = app.create_body()
    body["snapshot"]["volume_id"] = uuidutils.generate_uuid()
    message = fault(app.request("POST", "/v1/os-assisted-volume-snapshots",
                                body=body), 400)
    assert "not attached" in message
    listed = app.request("GET", "/v1/os-assisted-volume-snapshots").json
    [op] = listed["operations"]
    assert (op["status"], op["volume_id"], op["fault"]["code"]) == (
        states.VOLUME_OP_REFUSED, body["snapshot"]["volume_id"], 400)


# --- the admin listing ------------------------------------------------------------


def test_the_listing_shows_who_asked_what_and_how_it_ended_newest_first(app):
    bodies = []
    for _ in range(3):
        bodies.append(app.create_body())
        resp = app.request("POST", "/v1/os-assisted-volume-snapshots",
                           body=bodies[-1])
        assert resp.status_code == 200, resp.text
        app.wait_idle()
    listed = app.request("GET", "/v1/os-assisted-volume-snapshots").json
    ops = listed["operations"]
    assert [o["snapshot_id"] for o in ops] == [
        b["snapshot"]["create_info"]["snapshot_id"] for b in reversed(bodies)]
    first = ops[-1]
    assert first["requested_by"]["user_id"] == "admin"
    assert first["requested_by"]["project_id"] == "c1nder"
    assert first["requested_by"]["request_id"].startswith("req-")
    assert (first["action"], first["status"], first["server_id"], first["disk"]) \
        == ("create", states.VOLUME_OP_SUCCEEDED, app.server.id, "vdb")
    assert first["request"] == bodies[0]["snapshot"]["create_info"]
    assert first["callback"]["status"] == "creating"
    assert first["finished_at"] and first["duration_ms"] >= 0
    # Paging: limit and marker, with a next link while more follow.
    page = app.request("GET", "/v1/os-assisted-volume-snapshots?limit=2").json
    assert [o["id"] for o in page["operations"]] == [o["id"] for o in ops[:2]]
    next_url = page["operations_links"][0]["href"]
    rest = app.request("GET", next_url[next_url.index("/v1/"):]).json
    assert [o["id"] for o in rest["operations"]] == [ops[2]["id"]]
    assert "operations_links" not in rest
    # Filters.
    only = app.request("GET", "/v1/os-assisted-volume-snapshots?action=delete"
                              f"&volume_id={app.volume_id}").json
    assert only == {"operations": []}
    fault(app.request("GET", "/v1/os-assisted-volume-snapshots?marker="
                             f"{uuidutils.generate_uuid()}"), 400)

"""GET /v1/openapi.json of a real nativesnap-api: a valid OpenAPI 3.1
document that lists exactly the routes the router serves, whose request
schemas are the ones the API enforces and whose response schemas real
answers conform to."""

import re
import uuid

import jsonschema
import openapi_spec_validator
import pytest

from nativesnap.api import router
from tests.functional import helpers as h


@pytest.fixture(scope="module")
def doc(api):
    return h.ok(api.request("GET", "/v1/openapi.json"))


def _operation(doc, template, method):
    return doc["paths"][template][method.lower()]


def _validator(schema):
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.FormatChecker())


def _template_of(doc, path):
    """The documented path template that ``path`` (no query) matches."""
    path = path.split("?")[0]
    for template in doc["paths"]:
        pattern = "^" + re.sub(r"\{[^/]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path):
            return template
    raise AssertionError(f"{path} is not documented")


def conforms(doc, resp):
    """``resp``'s status is documented for its operation and its body matches
    the documented schema (or there is no body where none is documented)."""
    method = resp.request.method
    template = _template_of(doc, resp.request.path_url)
    responses = _operation(doc, template, method)["responses"]
    status = str(resp.status_code)
    assert status in responses, (method, template, status, sorted(responses))
    content = responses[status].get("content")
    if content is None:
        assert resp.content == b"", (method, template, status)
        return None
    body = resp.json()
    errors = sorted(_validator(content["application/json"]["schema"])
                    .iter_errors(body), key=str)
    assert not errors, (method, template, status, [e.message for e in errors[:3]])
    return body


def test_the_document_is_a_valid_openapi_3_1_document(doc):
    assert doc["openapi"] == "3.1.0"
    openapi_spec_validator.validate(doc)


def test_the_document_lists_exactly_the_routes_the_router_serves(doc):
    served = {path: {m.lower() for m in methods}
              for path, methods in router.route_list(compute_api=None)}
    documented = {path: set(item) for path, item in doc["paths"].items()}
    assert documented == served


def test_every_operation_documents_its_codes_and_who_may_call_it(doc):
    for path, item in doc["paths"].items():
        public = path in ("/", "/v1")
        for method, op in item.items():
            codes = set(op["responses"])
            assert "500" in codes and "406" in codes, (path, method)
            if public:
                assert op["security"] == [] and "401" not in codes
            elif router.AGENT_PATHS.match(path):
                # A node's agent: its X-Agent-Token, no policy.
                assert op["security"] == [{"agentToken": []}]
                assert {"400", "401"} <= codes and "403" not in codes
            else:
                assert "security" not in op and {"400", "401", "403"} <= codes
    assert [p for p in doc["paths"] if router.AGENT_PATHS.match(p)] == [
        "/v1/baremetal/nodes/{node_id}/heartbeat"]
    assert {"201", "202"} <= set(_operation(doc, "/v1/servers", "POST")["responses"])
    assert "204" in _operation(doc, "/v1/servers/{server_id}", "DELETE")["responses"]
    assert "409" in _operation(doc, "/v1/servers/{server_id}/snapshots",
                               "POST")["responses"]
    assert "202" in _operation(doc, "/v1/servers/{server_id}/snapshots/{snapshot_id}",
                               "DELETE")["responses"]


def test_documented_query_parameters_are_exactly_the_accepted_ones(api, doc):
    server = h.adopt(api)
    path = f"/v1/servers/{server['id']}/snapshots"
    params = {p["name"]: p for p in _operation(
        doc, "/v1/servers/{server_id}/snapshots", "GET")["parameters"]
        if p["in"] == "query"}
    assert set(params) == {"status", "limit", "marker", "sort_key", "sort_dir"}
    for key in params["sort_key"]["schema"]["enum"]:
        conforms(doc, h.ok_response(api, "GET", f"{path}?sort_key={key}"))
    for status in params["status"]["schema"]["enum"]:
        conforms(doc, h.ok_response(api, "GET", f"{path}?status={status}"))
    resp = api.request("GET", f"{path}?undocumented=1", token=h.ALICE)
    h.assert_fault(resp, 400, "undocumented")
    conforms(doc, resp)


# (path template, method, body, whether the schema accepts it)
REQUEST_BODIES = [
    ("/v1/servers/{server_id}/snapshots", {"snapshot": {"name": "ok"}}, True),
    ("/v1/servers/{server_id}/snapshots", {"snapshot": {"name": "n" * 255,
                                                        "quiesce": "off"}}, True),
    ("/v1/servers/{server_id}/snapshots", {"snapshot": {"name": "n" * 256}}, False),
    ("/v1/servers/{server_id}/snapshots", {"snapshot": {"name": "n", "x": 1}},
     False),
    ("/v1/servers/{server_id}/snapshots", {"snapshot": {"name": "n",
                                                        "memory": "no"}}, False),
    ("/v1/servers/{server_id}/action", {"revert": {"snapshot_id": "nope"}}, False),
    ("/v1/servers/{server_id}/action", {"revert": {}}, False),
    ("/v1/servers", {"server": {"name": "c", "snapshot_id": "nope"}}, False),
    ("/v1/servers", {"server": {"name": "c", "driver": "fake"}}, False),
]


@pytest.mark.parametrize("template,body,valid", REQUEST_BODIES)
def test_documented_request_schemas_are_the_ones_the_api_enforces(
        api, doc, template, body, valid):
    schema = _operation(doc, template, "POST")["requestBody"]["content"][
        "application/json"]["schema"]
    assert _validator(schema).is_valid(body) is valid
    server = h.adopt(api)
    path = template.replace("{server_id}", server["id"])
    resp = api.request("POST", path, json=body)
    assert (resp.status_code != 400) is valid, resp.text
    conforms(doc, resp)


def test_real_answers_conform_to_the_documented_response_schemas(api, doc):
    answers = [api.request("GET", "/", token=None),
               api.request("GET", "/v1", token=None),
               api.request("GET", "/v1/openapi.json")]
    ref = h.unique("vm-")
    adopted = api.request("POST", "/v1/servers", json={"server": {
        "name": "doc", "driver": "fake", "hypervisor_ref": ref,
        "project_id": h.PROJECT_A}})
    answers.append(adopted)
    sid = adopted.json()["server"]["id"]
    created = api.request("POST", h.snapshot_path(sid), token=h.ALICE,
                          json={"snapshot": {"name": "doc"}})
    answers.append(created)
    snap = created.json()["snapshot"]["id"]
    h.wait_idle(api, sid)
    second = h.available_snapshot(api, sid, h.ALICE)
    exported = api.request("POST", h.snapshot_path(sid, snap) + "/action",
                           token=h.ALICE, json={"export": {"image_name": "doc"}})
    answers.append(exported)
    h.wait_idle(api, sid)
    spawned = api.request("POST", "/v1/servers", token=h.ALICE, json={"server": {
        "name": "child", "snapshot_id": snap, "linked": False}})
    answers.append(spawned)
    child = spawned.json()["server"]["id"]
    h.wait_idle(api, child, h.ALICE)
    answers += [
        api.request("GET", "/v1/servers", token=h.ALICE),
        api.request("GET", "/v1/servers?limit=1", token=h.ALICE),
        api.request("GET", f"/v1/servers/{sid}", token=h.ALICE),
        api.request("GET", h.snapshot_path(sid), token=h.ALICE),
        api.request("GET", h.snapshot_path(sid) + "?limit=1", token=h.ALICE,
                    headers=h.V1_1),
        api.request("GET", h.snapshot_path(sid, snap), token=h.ALICE,
                    headers=h.V1_1),
        api.request("GET", "/v1/snapshots?limit=1", token=h.ALICE, headers=h.V1_1),
        api.request("GET", "/v1/snapshots?all_projects=1&limit=5"),
        h.revert(api, sid, snap, h.ALICE),
    ]
    h.wait_idle(api, sid)
    answers += [
        api.request("DELETE", h.snapshot_path(sid, second["id"]), token=h.ALICE),
        api.request("DELETE", f"/v1/servers/{child}", token=h.ALICE),
        # Error answers are Nova fault bodies, as documented (the last one:
        # adopting the same object again is a 409).
        api.request("GET", f"/v1/servers/{uuid.uuid4()}", token=h.ALICE),
        api.request("GET", "/v1/servers", token=None),
        api.request("GET", "/v1/servers?all_projects=1", token=h.ALICE),
        api.request("POST", h.snapshot_path(sid), token=h.ALICE, json={}),
        api.request("GET", "/v1/servers", token=h.ALICE,
                    headers={h.MICROVERSION: "snapshot 1.99"}),
        api.request("POST", "/v1/servers", json={"server": {
            "name": "again", "driver": "fake", "hypervisor_ref": ref}}),
    ]
    codes = set()
    for resp in answers:
        conforms(doc, resp)
        codes.add(resp.status_code)
    assert codes == {200, 201, 202, 204, 400, 401, 403, 404, 406, 409}
    image = exported.json()["image"]
    shown = h.get_snapshot(api, sid, snap, h.ALICE, headers=h.V1_1)
    assert [i["id"] for i in shown["images"]] == [image["id"]]

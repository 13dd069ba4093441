"""Every kind of invalid request answers 400 (406 for a microversion this API
does not serve) with Nova's fault body whose message names the problem, and
changes nothing in the database (every row of every table is compared)."""

import json

import pytest

from tests.functional import helpers as h

MISSING = object()  # no body at all

SNAPSHOTS = "/v1/servers/{server}/snapshots"
SNAPSHOT = "/v1/servers/{server}/snapshots/{snapshot}"
SERVER_ACTION = "/v1/servers/{server}/action"
SNAPSHOT_ACTION = "/v1/servers/{server}/snapshots/{snapshot}/action"


def _send(api, method, path, body, token=h.ALICE, headers=None):
    server = h.adopt(api)
    values = {"server": server["id"]}
    if "{snapshot}" in path:
        values["snapshot"] = h.available_snapshot(api, server["id"])["id"]
    path = path.format(**values)
    if isinstance(body, bytes) or body is MISSING:
        kwargs = {"data": None if body is MISSING else body,
                  "headers": {"Content-Type": "application/json",
                              **(headers or {})}}
    else:
        kwargs = {"json": body, "headers": headers}
    with h.changes_nothing(api):
        return api.request(method, path, token=token, **kwargs)


# --- request bodies ------------------------------------------------------------------

BODY_CASES = {
    # snapshot create
    "create-unknown-field": (SNAPSHOTS, {"snapshot": {"name": "n", "colour": "red"}},
                             ["unknown", "colour"]),
    "create-unknown-top-level-field": (
        SNAPSHOTS, {"snapshot": {"name": "n"}, "extra": 1}, ["extra"]),
    "create-name-wrong-type": (SNAPSHOTS, {"snapshot": {"name": 5}},
                               ["snapshot/name", "string"]),
    "create-memory-wrong-type": (SNAPSHOTS, {"snapshot": {"name": "n",
                                                          "memory": "yes"}},
                                 ["memory", "boolean"]),
    "create-name-256-characters": (SNAPSHOTS, {"snapshot": {"name": "x" * 256}},
                                   ["snapshot/name", "256", "255"]),
    "create-name-empty": (SNAPSHOTS, {"snapshot": {"name": ""}}, ["name", "empty"]),
    "create-name-control-character": (SNAPSHOTS, {"snapshot": {"name": "a\nb"}},
                                      ["name", "control"]),
    "create-quiesce-unknown": (SNAPSHOTS, {"snapshot": {"name": "n",
                                                        "quiesce": "sometimes"}},
                               ["quiesce", "required", "preferred", "off"]),
    "create-kind-unknown": (SNAPSHOTS, {"snapshot": {"name": "n", "kind": "cow"}},
                            ["kind"]),
    "create-description-too-long": (SNAPSHOTS, {"snapshot": {
        "name": "n", "description": "d" * 1025}}, ["description", "1024"]),
    "create-name-missing": (SNAPSHOTS, {"snapshot": {}}, ["name", "required"]),
    "create-empty-object": (SNAPSHOTS, {}, ["snapshot", "required"]),
    "create-body-not-an-object": (SNAPSHOTS, [], ["object", "array"]),
    "create-empty-body": (SNAPSHOTS, b"", ["body", "empty"]),
    "create-missing-body": (SNAPSHOTS, MISSING, ["body", "empty"]),
    "create-invalid-json": (SNAPSHOTS, b'{"snapshot": {"name": "n",}',
                            ["not valid JSON"]),
    "create-invalid-utf8": (SNAPSHOTS, b'{"snapshot": {"name": "\xff"}}', ["JSON"]),
    # revert
    "revert-malformed-uuid-in-body": (SERVER_ACTION, {"revert": {
        "snapshot_id": "not-a-uuid"}}, ["revert/snapshot_id", "UUID"]),
    "revert-unknown-field": (SERVER_ACTION, {"revert": {
        "snapshot_id": "00000000-0000-4000-8000-000000000000", "force": True}},
        ["force"]),
    "revert-power-on-wrong-type": (SERVER_ACTION, {"revert": {
        "snapshot_id": "00000000-0000-4000-8000-000000000000", "power_on": "no"}},
        ["power_on", "boolean"]),
    "revert-snapshot-id-missing": (SERVER_ACTION, {"revert": {}},
                                   ["snapshot_id", "required"]),
    "server-unknown-action": (SERVER_ACTION, {"reboot": {}}, ["reboot", "revert"]),
    "server-two-actions": (SERVER_ACTION, {"revert": {}, "reboot": {}},
                           ["exactly one", "revert"]),
    "server-action-empty-object": (SERVER_ACTION, {}, ["exactly one", "revert"]),
    "server-action-missing-body": (SERVER_ACTION, MISSING, ["body", "empty"]),
    # export
    "snapshot-unknown-action": (SNAPSHOT_ACTION, {"frobnicate": {}},
                                ["frobnicate", "export"]),
    "export-image-name-missing": (SNAPSHOT_ACTION, {"export": {}},
                                  ["image_name", "required"]),
    "export-image-name-256-characters": (SNAPSHOT_ACTION, {"export": {
        "image_name": "i" * 256}}, ["export/image_name", "256"]),
    "export-disk-format-unknown": (SNAPSHOT_ACTION, {"export": {
        "image_name": "i", "disk_format": "vmdk"}}, ["disk_format", "qcow2"]),
    "export-unknown-field": (SNAPSHOT_ACTION, {"export": {
        "image_name": "i", "path": "/etc/passwd"}}, ["path"]),
    "export-invalid-json": (SNAPSHOT_ACTION, b"export", ["not valid JSON"]),
    # spawn (POST /v1/servers with snapshot_id)
    "spawn-malformed-uuid-in-body": ("/v1/servers", {"server": {
        "name": "c", "snapshot_id": "1234"}}, ["server/snapshot_id", "UUID"]),
    "spawn-linked-wrong-type": ("/v1/servers", {"server": {
        "name": "c", "snapshot_id": "00000000-0000-4000-8000-000000000000",
        "linked": 1}}, ["linked", "boolean"]),
    "spawn-unknown-field": ("/v1/servers", {"server": {
        "name": "c", "snapshot_id": "00000000-0000-4000-8000-000000000000",
        "driver": "fake"}}, ["driver"]),
    "spawn-name-256-characters": ("/v1/servers", {"server": {
        "name": "c" * 256, "snapshot_id": "00000000-0000-4000-8000-000000000000"}},
        ["server/name", "256"]),
}


@pytest.mark.parametrize("case", sorted(BODY_CASES))
def test_an_invalid_body_answers_400_naming_the_problem_and_changes_nothing(
        api, case):
    path, body, words = BODY_CASES[case]
    resp = _send(api, "POST", path, body)
    h.assert_fault(resp, 400, *words)


ADOPT_CASES = {
    "unknown-field": ({"name": "n", "driver": "fake", "hypervisor_ref": "r",
                       "colour": "red"}, ["colour"]),
    "name-wrong-type": ({"name": ["n"], "driver": "fake", "hypervisor_ref": "r"},
                        ["server/name", "string", "array"]),
    "name-256-characters": ({"name": "n" * 256, "driver": "fake",
                             "hypervisor_ref": "r"}, ["server/name", "256"]),
    "driver-missing": ({"name": "n", "hypervisor_ref": "r"}, ["driver", "required"]),
    "driver-malformed": ({"name": "n", "driver": "Fake!", "hypervisor_ref": "r"},
                         ["server/driver"]),
    "project-id-malformed": ({"name": "n", "driver": "fake", "hypervisor_ref": "r",
                              "project_id": "a b"}, ["project_id"]),
    "hypervisor-ref-control-character": ({"name": "n", "driver": "fake",
                                          "hypervisor_ref": "a\x00b"},
                                         ["hypervisor_ref"]),
}


@pytest.mark.parametrize("case", sorted(ADOPT_CASES))
def test_an_invalid_adopt_body_answers_400_naming_the_problem_and_changes_nothing(
        api, case):
    server, words = ADOPT_CASES[case]
    resp = _send(api, "POST", "/v1/servers", {"server": server}, token=h.ADMIN)
    h.assert_fault(resp, 400, *words)


def test_adopting_with_a_255_character_name_is_accepted(api):
    ref = h.unique("vm-")
    resp = api.request("POST", "/v1/servers", json={"server": {
        "name": "n" * 255, "driver": "fake", "hypervisor_ref": ref}})
    assert h.ok(resp, 201)["server"]["name"] == "n" * 255


def test_a_body_of_another_content_type_answers_400_naming_it(api):
    resp = _send(api, "POST", SNAPSHOTS, b"name=n",
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    h.assert_fault(resp, 400, "Content-Type", "application/json")


def test_a_long_invalid_value_is_not_echoed_back_in_full(api):
    resp = _send(api, "POST", SNAPSHOTS, {"snapshot": {"name": "n",
                                                       "quiesce": "q" * 5000}})
    message = h.assert_fault(resp, 400, "quiesce")
    assert len(message) < 400


# --- paths ---------------------------------------------------------------------------

PATH_CASES = {
    "show-server": ("GET", "/v1/servers/not-a-uuid", "server_id"),
    "delete-server": ("DELETE", "/v1/servers/1234", "server_id"),
    "revert-server": ("POST", "/v1/servers/zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz/action",
                      "server_id"),
    "list-snapshots": ("GET", "/v1/servers/x/snapshots", "server_id"),
    "create-snapshot": ("POST", "/v1/servers/x/snapshots", "server_id"),
    "show-snapshot": ("GET", "/v1/servers/{server}/snapshots/nope", "snapshot_id"),
    "delete-snapshot": ("DELETE", "/v1/servers/{server}/snapshots/nope",
                        "snapshot_id"),
    "export-snapshot": ("POST", "/v1/servers/{server}/snapshots/1-2-3/action",
                        "snapshot_id"),
}


@pytest.mark.parametrize("case", sorted(PATH_CASES))
def test_a_malformed_uuid_in_the_path_answers_400_naming_it_and_changes_nothing(
        api, case):
    method, path, name = PATH_CASES[case]
    body = {"snapshot": {"name": "n"}} if method == "POST" else None
    resp = _send(api, method, path, body)
    h.assert_fault(resp, 400, name, "not a valid UUID")


# --- query strings --------------------------------------------------------------------

QUERY_CASES = {
    "servers-unknown-parameter": ("/v1/servers?colour=red", ["colour"]),
    "servers-bad-sort-key": ("/v1/servers?sort_key=hypervisor_ref", ["sort_key"]),
    "servers-bad-limit": ("/v1/servers?limit=-1", ["limit"]),
    "servers-bad-all-projects": ("/v1/servers?all_projects=maybe", ["all_projects"]),
    "snapshots-unknown-parameter": (SNAPSHOTS + "?statuss=available", ["statuss"]),
    "snapshots-bad-sort-key": (SNAPSHOTS + "?sort_key=size_bytes", ["sort_key",
                                                                   "created_at"]),
    "snapshots-bad-sort-dir": (SNAPSHOTS + "?sort_dir=up", ["sort_dir", "asc"]),
    "snapshots-bad-limit": (SNAPSHOTS + "?limit=ten", ["limit"]),
    "snapshots-limit-too-large": (SNAPSHOTS + "?limit=10000000000", ["limit"]),
    "snapshots-bad-status": (SNAPSHOTS + "?status=gone", ["status"]),
    "snapshots-malformed-marker": (SNAPSHOTS + "?marker=abc", ["marker", "UUID"]),
    "snapshots-unknown-marker": (
        SNAPSHOTS + "?marker=00000000-0000-4000-8000-00000000abcd",
        ["marker", "00000000-0000-4000-8000-00000000abcd"]),
    "snapshots-repeated-parameter": (SNAPSHOTS + "?limit=1&limit=2",
                                     ["limit", "more than once"]),
    "all-snapshots-unknown-parameter": ("/v1/snapshots?project=x", ["project"]),
    "all-snapshots-bad-sort-key": ("/v1/snapshots?sort_key=server_id", ["sort_key"]),
    "all-snapshots-bad-limit": ("/v1/snapshots?limit=1.5", ["limit"]),
    "all-snapshots-unknown-marker": (
        "/v1/snapshots?marker=00000000-0000-4000-8000-00000000abcd", ["marker"]),
}


@pytest.mark.parametrize("case", sorted(QUERY_CASES))
def test_an_invalid_query_answers_400_naming_the_parameter_and_changes_nothing(
        api, case):
    path, words = QUERY_CASES[case]
    message = h.assert_fault(_send(api, "GET", path, None), 400, *words)
    assert "body" not in message  # a query string is not a body


# --- microversions -------------------------------------------------------------------

VERSION_CASES = {
    "malformed-version": ("snapshot 1.x", 400, ["OpenStack-API-Version", "1.x"]),
    "missing-version": ("snapshot", 400, ["OpenStack-API-Version"]),
    "leading-zero": ("snapshot 1.01", 400, ["1.01"]),
    "too-high-minor": ("snapshot 1.99", 406, ["1.99", "1.0", "1.2"]),
    "next-major": ("snapshot 2.0", 406, ["2.0", "1.2"]),
    "next-minor": ("snapshot 1.3", 406, ["1.3", "1.2"]),
}


@pytest.mark.parametrize("case", sorted(VERSION_CASES))
def test_a_bad_microversion_refuses_a_valid_create_and_changes_nothing(api, case):
    value, code, words = VERSION_CASES[case]
    resp = _send(api, "POST", SNAPSHOTS, {"snapshot": {"name": "n"}},
                 headers={h.MICROVERSION: value})
    h.assert_fault(resp, code, *words)
    assert resp.headers[h.MICROVERSION] == "snapshot 1.0"


def test_another_services_microversion_is_ignored(api):
    resp = api.request("GET", "/v1/servers", token=h.ALICE,
                       headers={h.MICROVERSION: "compute 2.90"})
    h.ok(resp)
    assert resp.headers[h.MICROVERSION] == "snapshot 1.0"


def test_a_microversion_among_several_services_is_found(api):
    resp = api.request("GET", "/v1", token=None,
                       headers={h.MICROVERSION: "compute 2.1, snapshot 1.1"})
    h.ok(resp)
    assert resp.headers[h.MICROVERSION] == "snapshot 1.1"


def test_a_body_sent_with_a_snapshot_delete_is_ignored(api):
    # DELETE takes no body: one sent anyway is ignored, not parsed.
    server = h.adopt(api)
    snapshot = h.available_snapshot(api, server["id"])
    resp = api.request("DELETE", h.snapshot_path(server["id"], snapshot["id"]),
                       token=h.ALICE, data=json.dumps({"force": True}),
                       headers={"Content-Type": "application/json"})
    assert h.ok(resp, 202)["snapshot"]["status"] == "deleting"

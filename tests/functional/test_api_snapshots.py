"""/v1/servers/{id}/snapshots and /v1/snapshots over HTTP against a real
nativesnap-api: create, list, show, delete, export (and its images at
microversion 1.1), failures recorded as faults, and dependents that block a
delete."""

import hashlib
import os
import uuid

from tests.functional import helpers as h


# --- create, show, list ---------------------------------------------------------------


def test_create_answers_202_with_location_then_the_snapshot_becomes_available(api):
    server = h.adopt(api)
    resp = api.request("POST", h.snapshot_path(server["id"]), token=h.ALICE,
                       json={"snapshot": {"name": "first", "description": "d"}})
    snapshot = h.ok(resp, 202)["snapshot"]
    assert resp.headers["Location"] == (
        f"{api.url}/v1/servers/{server['id']}/snapshots/{snapshot['id']}")
    assert snapshot["status"] == "creating"
    assert snapshot["server_id"] == server["id"]
    assert snapshot["project_id"] == h.PROJECT_A
    assert (snapshot["name"], snapshot["description"]) == ("first", "d")
    assert snapshot["parent_id"] is None
    h.wait_idle(api, server["id"], h.ALICE)
    done = h.ok(api.request("GET", resp.headers["Location"], token=h.ALICE))[
        "snapshot"]
    assert done["status"] == "available"
    assert done["progress"] == 100
    assert done["kind"] == "external"
    assert done["consistency"] == "application"
    assert done["is_current"] is True
    assert done["fault"] is None
    assert [d["target"] for d in done["disks"]] == ["vda"]
    assert "images" not in done  # microversion 1.0


def test_create_records_the_consistency_asked_for(api):
    server = h.adopt(api)
    crash = h.available_snapshot(api, server["id"], quiesce="off")
    memory = h.available_snapshot(api, server["id"], memory=True, kind="internal")
    assert crash["consistency"] == "crash"
    assert (memory["consistency"], memory["memory"], memory["kind"]) == (
        "memory", True, "internal")
    assert memory["parent_id"] == crash["id"]


def test_create_accepts_a_255_character_name(api):
    server = h.adopt(api)
    snapshot = h.available_snapshot(api, server["id"], name="n" * 255)
    assert snapshot["name"] == "n" * 255


def test_create_of_an_unsupported_option_answers_400_naming_it(api):
    server = h.adopt(api)
    with h.changes_nothing(api):
        resp = api.request("POST", h.snapshot_path(server["id"]), json={
            "snapshot": {"name": "v", "include_volumes": True}})
        h.assert_fault(resp, 400, "fake", "include_volumes")


def test_a_failed_create_leaves_the_snapshot_in_error_with_a_fault_and_the_server_idle(
        api):
    server = h.adopt(api, prefix="fail-")
    snapshot = h.create_snapshot(api, server["id"], h.ALICE)
    assert snapshot["status"] == "error"
    assert snapshot["fault"]["code"] == 500
    assert "injected failure" in snapshot["fault"]["message"]
    assert "create_snapshot" in snapshot["fault"]["message"]
    after = h.get_server(api, server["id"], h.ALICE)
    assert after["task_state"] is None
    assert after["status"] == "ACTIVE"
    assert not snapshot["is_current"]


def test_a_failed_delete_leaves_the_snapshot_error_deleting_with_a_fault(api):
    server = h.adopt(api, prefix="fail-")
    snapshot = h.create_snapshot(api, server["id"])
    resp = api.request("DELETE", h.snapshot_path(server["id"], snapshot["id"]))
    assert h.ok(resp, 202)["snapshot"]["status"] == "deleting"
    h.wait_idle(api, server["id"])
    after = h.get_snapshot(api, server["id"], snapshot["id"])
    assert after["status"] == "error_deleting"
    assert "delete_snapshot" in after["fault"]["message"]


def test_show_of_an_unknown_snapshot_answers_404_naming_it(api):
    server = h.adopt(api)
    unknown = str(uuid.uuid4())
    h.assert_fault(api.request("GET", h.snapshot_path(server["id"], unknown),
                               token=h.ALICE), 404, unknown)


def test_show_of_another_servers_snapshot_under_this_server_answers_404(api):
    server = h.adopt(api)
    other = h.adopt(api)
    snapshot = h.available_snapshot(api, other["id"])
    h.assert_fault(api.request("GET", h.snapshot_path(server["id"], snapshot["id"]),
                               token=h.ALICE), 404, snapshot["id"])


def test_list_shows_the_servers_snapshots_newest_first_and_filters_by_status(api):
    server = h.adopt(api)
    other = h.adopt(api)
    first = h.available_snapshot(api, server["id"])
    second = h.available_snapshot(api, server["id"])
    h.available_snapshot(api, other["id"])
    body = h.ok(api.request("GET", h.snapshot_path(server["id"]), token=h.ALICE))
    assert [s["id"] for s in body["snapshots"]] == [second["id"], first["id"]]
    assert [s["is_current"] for s in body["snapshots"]] == [True, False]
    assert "snapshots_links" not in body
    assert h.list_ids(api, h.snapshot_path(server["id"]) + "?status=error",
                      h.ALICE) == []
    assert h.list_ids(api, h.snapshot_path(server["id"]) + "?sort_dir=asc",
                      h.ALICE) == [first["id"], second["id"]]


def test_all_snapshots_lists_the_callers_project_across_servers(api):
    token, project = h.project_token()
    one = h.adopt(api, project_id=project)
    two = h.adopt(api, project_id=project)
    a = h.available_snapshot(api, one["id"], token)
    b = h.available_snapshot(api, two["id"], token)
    body = h.ok(api.request("GET", "/v1/snapshots", token=token))
    assert [s["id"] for s in body["snapshots"]] == [b["id"], a["id"]]
    assert all(s["is_current"] for s in body["snapshots"])
    by_name = [s["id"] for s in sorted([a, b], key=lambda s: s["name"])]
    assert h.list_ids(api, "/v1/snapshots?status=available&sort_key=name"
                           "&sort_dir=asc", token) == by_name
    assert h.list_ids(api, "/v1/snapshots?status=error", token) == []


def test_admin_lists_every_projects_snapshots_with_all_projects(api):
    a = h.available_snapshot(api, h.adopt(api, project_id=h.PROJECT_A)["id"])
    b = h.available_snapshot(api, h.adopt(api, project_id=h.PROJECT_B)["id"])
    everything = h.list_ids(api, "/v1/snapshots?all_projects=1&limit=1000")
    assert {a["id"], b["id"]} <= set(everything)
    own = h.list_ids(api, "/v1/snapshots?all_projects=0")
    assert a["id"] not in own and b["id"] not in own


# --- delete ---------------------------------------------------------------------------


def test_delete_answers_202_deleting_then_404_once_the_task_finished(api):
    server = h.adopt(api)
    parent = h.available_snapshot(api, server["id"])
    middle = h.available_snapshot(api, server["id"])
    child = h.available_snapshot(api, server["id"])
    resp = api.request("DELETE", h.snapshot_path(server["id"], middle["id"]),
                       token=h.ALICE)
    assert h.ok(resp, 202)["snapshot"]["status"] == "deleting"
    assert resp.headers["Location"].endswith(
        h.snapshot_path(server["id"], middle["id"]))
    h.wait_idle(api, server["id"])
    h.assert_fault(api.request("GET", h.snapshot_path(server["id"], middle["id"]),
                               token=h.ALICE), 404, middle["id"])
    # Its child now hangs under its parent, and stays current.
    after = h.get_snapshot(api, server["id"], child["id"])
    assert (after["parent_id"], after["is_current"]) == (parent["id"], True)


def test_deleting_the_current_snapshot_makes_its_parent_current(api):
    server = h.adopt(api)
    parent = h.available_snapshot(api, server["id"])
    current = h.available_snapshot(api, server["id"])
    h.ok(api.request("DELETE", h.snapshot_path(server["id"], current["id"])), 202)
    h.wait_idle(api, server["id"])
    assert h.get_snapshot(api, server["id"], parent["id"])["is_current"]


def test_deleting_a_snapshot_a_linked_server_depends_on_answers_409_naming_it(api):
    source = h.adopt(api)
    snapshot = h.available_snapshot(api, source["id"])
    clone = h.spawn(api, snapshot["id"], token=h.ALICE, linked=True, name="clone")
    with h.changes_nothing(api):
        resp = api.request("DELETE", h.snapshot_path(source["id"], snapshot["id"]),
                           token=h.ALICE)
        h.assert_fault(resp, 409, clone["id"], "clone")
    h.ok(api.request("DELETE", f"/v1/servers/{clone['id']}", token=h.ALICE), 204)
    h.ok(api.request("DELETE", h.snapshot_path(source["id"], snapshot["id"]),
                     token=h.ALICE), 202)


def test_a_full_clone_does_not_block_deleting_its_source_snapshot(api):
    source = h.adopt(api)
    snapshot = h.available_snapshot(api, source["id"])
    clone = h.spawn(api, snapshot["id"], linked=False)
    assert clone["linked"] is False and clone["status"] == "ACTIVE"
    h.ok(api.request("DELETE", h.snapshot_path(source["id"], snapshot["id"])), 202)
    h.wait_idle(api, source["id"])
    assert h.list_ids(api, h.snapshot_path(source["id"])) == []


def test_spawn_and_export_of_an_error_snapshot_answer_409_naming_its_status(api):
    server = h.adopt(api, prefix="fail-")
    failed = h.create_snapshot(api, server["id"])
    with h.changes_nothing(api):
        resp = api.request("POST", "/v1/servers", json={"server": {
            "name": "c", "snapshot_id": failed["id"]}})
        h.assert_fault(resp, 409, failed["id"], "error")
        resp = api.request("POST", h.snapshot_path(server["id"], failed["id"]) +
                           "/action", json={"export": {"image_name": "i"}})
        h.assert_fault(resp, 409, failed["id"], "error")
        h.assert_fault(h.revert(api, server["id"], failed["id"]), 409, "error")


# --- export -------------------------------------------------------------------------------


def test_export_answers_202_and_writes_the_image_to_the_store(api):
    server = h.adopt(api)
    snapshot = h.available_snapshot(api, server["id"])
    resp = api.request("POST", h.snapshot_path(server["id"], snapshot["id"]) +
                       "/action", token=h.ALICE,
                       json={"export": {"image_name": "golden",
                                        "disk_format": "qcow2"}})
    image = h.ok(resp, 202)["image"]
    assert resp.headers["Location"].endswith(
        h.snapshot_path(server["id"], snapshot["id"]))
    assert (image["name"], image["disk_format"], image["status"]) == (
        "golden", "qcow2", "saving")
    h.wait_idle(api, server["id"])
    path = os.path.join(api.state_dir, "images", f"{image['id']}.qcow2")
    with open(path, "rb") as f:
        data = f.read()
    assert snapshot["id"].encode() in data
    # At microversion 1.1 the snapshot lists the image, with size and sha256.
    shown = h.get_snapshot(api, server["id"], snapshot["id"], h.ALICE,
                           headers=h.V1_1)
    (listed,) = shown["images"]
    assert listed["id"] == image["id"]
    assert listed["status"] == "active"
    assert listed["progress"] == 100
    assert listed["size_bytes"] == len(data)
    assert listed["sha256"] == hashlib.sha256(data).hexdigest()
    assert listed["location"] == f"file://{path}"
    assert listed["fault"] is None


def test_snapshot_listings_at_1_1_carry_images_and_at_1_0_do_not(api):
    token, project = h.project_token()
    server = h.adopt(api, project_id=project)
    exported = h.available_snapshot(api, server["id"], token)
    plain = h.available_snapshot(api, server["id"], token)
    image = h.export(api, server["id"], exported["id"], token)
    h.wait_idle(api, server["id"], token)
    for path in (h.snapshot_path(server["id"]), "/v1/snapshots"):
        resp = api.request("GET", path, token=token, headers=h.V1_1)
        assert resp.headers[h.MICROVERSION] == "snapshot 1.1"
        images = {s["id"]: [(i["id"], i["status"]) for i in s["images"]]
                  for s in h.ok(resp)["snapshots"]}
        assert images == {exported["id"]: [(image["id"], "active")],
                          plain["id"]: []}
        old = h.ok(api.request("GET", path, token=token))["snapshots"]
        assert all("images" not in s for s in old)


def test_export_of_an_unknown_snapshot_answers_404(api):
    server = h.adopt(api)
    unknown = str(uuid.uuid4())
    with h.changes_nothing(api):
        resp = api.request("POST", h.snapshot_path(server["id"], unknown) + "/action",
                           json={"export": {"image_name": "i"}})
        h.assert_fault(resp, 404, unknown)

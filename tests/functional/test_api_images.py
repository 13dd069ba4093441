"""/v1/images over HTTP against a real nativesnap-api with the local store:
an export is listed and shown with every field of its view, it outlives its
snapshot and server, its project alone sees it (admins every project's with
all_projects), the listing filters and pages, and DELETE removes its file and
record, except while it is still being saved (409)."""

import hashlib
import os
import re
import uuid

from tests.functional import helpers as h

IMAGE_FIELDS = {"id", "name", "project_id", "snapshot_id", "server_id",
                "backend", "disk_format", "status", "progress", "size_bytes",
                "sha256", "location", "fault", "flatten_progress",
                "fallback_reason", "created_at", "updated_at", "links"}
TIMESTAMP_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


# --- helpers -------------------------------------------------------------------------


def image_path(image_id):
    return f"/v1/images/{image_id}"


def get_image(api, image_id, token):
    return h.ok(api.request("GET", image_path(image_id), token=token))["image"]


def image_file(api, image_id):
    """Where the local store keeps an active image."""
    return os.path.join(api.state_dir, "images", f"{image_id}.qcow2")


def store_files(api, image_id):
    """Every file of the image dir and its staging dir named after the image."""
    found = []
    for directory in (os.path.join(api.state_dir, "images"),
                      os.path.join(api.state_dir, "images", ".staging")):
        if os.path.isdir(directory):
            found.extend(os.path.join(directory, name)
                         for name in os.listdir(directory) if image_id in name)
    return found


def exported(api, server_id, snapshot_id, token, image_name=None):
    """An export run to its end (bounded); the image as /v1/images shows it."""
    image = h.export(api, server_id, snapshot_id, token, image_name=image_name)
    assert image["status"] == "saving", image
    h.wait_idle(api, server_id, token)
    return get_image(api, image["id"], token)


def active_image(api, token, project, image_name=None):
    """A fresh server of ``project``, a snapshot of it and its active export."""
    server = h.adopt(api, project_id=project)
    snapshot = h.available_snapshot(api, server["id"], token)
    image = exported(api, server["id"], snapshot["id"], token, image_name)
    assert image["status"] == "active", image
    return server, snapshot, image


def failing_server_with_a_snapshot(api, token, project):
    """A server with an available snapshot whose exports fail (a fake
    ``failexport-*`` object)."""
    server = h.adopt(api, project_id=project, prefix="failexport-")
    snapshot = h.available_snapshot(api, server["id"], token)
    return server, snapshot


def failed_image(api, token, project):
    server, snapshot = failing_server_with_a_snapshot(api, token, project)
    image = exported(api, server["id"], snapshot["id"], token)
    assert image["status"] == "error", image
    return server, snapshot, image


def wait_gone(api, path, token, what):
    api.wait_for(lambda: api.request("GET", path, token=token).status_code == 404,
                 timeout=30, what=what)


def listed(api, token, query=""):
    """Every image of the listing (following its next links)."""
    images, _ = h.follow_pages(api, "/v1/images" + query, token, key="images")
    return images


# --- an export, listed and shown ----------------------------------------------------


def test_an_export_is_listed_and_shown_with_every_field_matching_its_file(api):
    token, project = h.project_token()
    server = h.adopt(api, project_id=project)
    snapshot = h.available_snapshot(api, server["id"], token)
    started = h.export(api, server["id"], snapshot["id"], token,
                       image_name="golden")
    assert (started["name"], started["status"]) == ("golden", "saving")
    h.wait_idle(api, server["id"], token)

    image = get_image(api, started["id"], token)
    path = image_file(api, image["id"])
    with open(path, "rb") as f:
        data = f.read()
    assert data, "the export wrote an empty file"
    assert set(image) == IMAGE_FIELDS
    assert image["id"] == started["id"]
    assert image["name"] == "golden"
    assert image["project_id"] == project
    assert image["snapshot_id"] == snapshot["id"]
    assert image["server_id"] == server["id"]
    assert image["backend"] == "local"
    assert image["disk_format"] == "qcow2"
    assert image["status"] == "active"
    assert image["progress"] == 100
    assert image["size_bytes"] == os.path.getsize(path) == len(data)
    assert image["sha256"] == hashlib.sha256(data).hexdigest()
    assert image["location"] == f"file://{path}"
    assert image["fault"] is None
    assert (image["flatten_progress"], image["fallback_reason"]) == (None, None)
    for stamp in ("created_at", "updated_at"):
        assert TIMESTAMP_RE.match(image[stamp]), image[stamp]
    assert snapshot["created_at"] <= image["created_at"] <= image["updated_at"]
    assert image["links"] == [
        {"rel": "self", "href": f"{api.url}/v1/images/{image['id']}"},
        {"rel": "bookmark", "href": f"{api.url}/images/{image['id']}"}]
    # The self link answers the same view.
    assert h.ok(api.request("GET", image["links"][0]["href"],
                            token=token))["image"] == image

    body = h.ok(api.request("GET", "/v1/images", token=token))
    assert body["images"] == [image]
    assert "images_links" not in body

    # The snapshot's own view at 1.1 lists the same image (without links).
    summary = {k: v for k, v in image.items() if k != "links"}
    shown = h.get_snapshot(api, server["id"], snapshot["id"], token,
                           headers=h.V1_1)
    assert shown["images"] == [summary]
    (in_listing,) = h.ok(api.request("GET", "/v1/snapshots", token=token,
                                     headers=h.V1_1))["snapshots"]
    assert in_listing["images"] == [summary]


# --- the image outlives its snapshot and server ---------------------------------------


def test_an_image_outlives_its_snapshot_and_server_until_deleted_with_its_file(api):
    token, project = h.project_token()
    server, snapshot, image = active_image(api, token, project)
    path = image_file(api, image["id"])
    with open(path, "rb") as f:
        data = f.read()

    resp = api.request("DELETE", h.snapshot_path(server["id"], snapshot["id"]),
                       token=token)
    assert h.ok(resp, 202)["snapshot"]["status"] == "deleting"
    wait_gone(api, h.snapshot_path(server["id"], snapshot["id"]), token,
              f"snapshot {snapshot['id']} to be deleted")
    h.ok(api.request("DELETE", f"/v1/servers/{server['id']}", token=token), 204)
    wait_gone(api, f"/v1/servers/{server['id']}", token,
              f"server {server['id']} to be deleted")
    assert h.list_ids(api, "/v1/snapshots", token) == []
    assert h.list_ids(api, "/v1/servers", token) == []

    kept = get_image(api, image["id"], token)
    assert kept == image  # the same record: snapshot_id, server_id and all
    assert (kept["snapshot_id"], kept["server_id"]) == (snapshot["id"],
                                                        server["id"])
    assert listed(api, token) == [image]
    assert listed(api, token, f"?server_id={server['id']}") == [image]
    with open(path, "rb") as f:
        assert f.read() == data
    assert hashlib.sha256(data).hexdigest() == kept["sha256"]

    resp = api.request("DELETE", image_path(image["id"]), token=token)
    assert resp.status_code == 204, resp.text
    assert resp.content == b""
    assert not os.path.exists(path)
    assert store_files(api, image["id"]) == []
    h.assert_fault(api.request("GET", image_path(image["id"]), token=token),
                   404, image["id"])
    assert listed(api, token) == []
    assert h.db_query(api, "SELECT id FROM images WHERE id = :i",
                      i=image["id"]) == []


# --- project scoping ---------------------------------------------------------------------


def test_another_project_neither_sees_shows_nor_deletes_an_image(api):
    token, project = h.project_token("alice")
    _, _, image = active_image(api, token, project)
    intruder, _ = h.project_token("mallory")
    with h.changes_nothing(api):
        h.assert_fault(api.request("GET", image_path(image["id"]),
                                   token=intruder), 404, image["id"])
        h.assert_fault(api.request("DELETE", image_path(image["id"]),
                                   token=intruder), 404, image["id"])
        assert listed(api, intruder) == []
        assert listed(api, intruder, f"?snapshot_id={image['snapshot_id']}") == []
    assert get_image(api, image["id"], token) == image
    assert os.path.exists(image_file(api, image["id"]))


def test_all_projects_is_for_admins_who_then_see_every_projects_images(api):
    token_a, project_a = h.project_token("alice")
    token_b, project_b = h.project_token("bob")
    _, _, image_a = active_image(api, token_a, project_a)
    _, _, image_b = active_image(api, token_b, project_b)

    for value in ("1", "true"):
        h.assert_fault(api.request("GET", f"/v1/images?all_projects={value}",
                                   token=token_a), 403)
    # all_projects=0 is the caller's project, as without it.
    assert listed(api, token_a, "?all_projects=0") == [image_a]
    assert listed(api, token_b) == [image_b]

    everything = {i["id"]: i for i in listed(api, h.ADMIN, "?all_projects=1")}
    assert everything[image_a["id"]] == image_a
    assert everything[image_b["id"]] == image_b
    assert {i["project_id"] for i in everything.values()} >= {project_a,
                                                              project_b}
    # Without all_projects an admin lists its own project only.
    own = listed(api, h.ADMIN)
    assert image_a["id"] not in {i["id"] for i in own}
    assert image_b["id"] not in {i["id"] for i in own}
    # Filters still apply across projects.
    assert listed(api, h.ADMIN, "?all_projects=1&snapshot_id="
                  f"{image_b['snapshot_id']}") == [image_b]


# --- filters and paging ----------------------------------------------------------------


def test_filters_pick_exactly_the_matching_images_and_limit_1_walks_each_once(api):
    token, project = h.project_token()
    first = h.adopt(api, project_id=project)
    second = h.adopt(api, project_id=project)
    snap_1a = h.available_snapshot(api, first["id"], token)
    snap_1b = h.available_snapshot(api, first["id"], token)
    snap_2 = h.available_snapshot(api, second["id"], token)
    img_1a = exported(api, first["id"], snap_1a["id"], token)
    img_1a_again = exported(api, first["id"], snap_1a["id"], token)
    img_1b = exported(api, first["id"], snap_1b["id"], token)
    img_2 = exported(api, second["id"], snap_2["id"], token)
    _, snap_f, img_failed = failed_image(api, token, project)

    def ids(query):
        return [i["id"] for i in listed(api, token, query)]

    newest_first = [img_failed["id"], img_2["id"], img_1b["id"],
                    img_1a_again["id"], img_1a["id"]]
    assert ids("") == newest_first
    assert ids("?status=active") == newest_first[1:]
    assert ids("?status=error") == [img_failed["id"]]
    assert ids("?status=saving") == []
    assert ids(f"?snapshot_id={snap_1a['id']}") == [img_1a_again["id"],
                                                    img_1a["id"]]
    assert ids(f"?snapshot_id={snap_2['id']}") == [img_2["id"]]
    assert ids(f"?snapshot_id={snap_f['id']}") == [img_failed["id"]]
    assert ids(f"?server_id={first['id']}") == [
        img_1b["id"], img_1a_again["id"], img_1a["id"]]
    assert ids(f"?server_id={second['id']}") == [img_2["id"]]
    # Ids are matched whatever their case.
    assert ids(f"?server_id={first['id'].upper()}") == ids(
        f"?server_id={first['id']}")
    # Filters combine.
    assert ids(f"?server_id={first['id']}&snapshot_id={snap_1b['id']}") == [
        img_1b["id"]]
    assert ids(f"?server_id={second['id']}&snapshot_id={snap_1a['id']}") == []
    assert ids(f"?server_id={first['id']}&status=error") == []
    assert ids(f"?snapshot_id={uuid.uuid4()}") == []

    # limit=1: one image a page, each exactly once, in the listing's order,
    # and the last page, though full, links nowhere (nothing follows it).
    images, pages = h.follow_pages(api, "/v1/images?limit=1", token,
                                   key="images")
    assert [i["id"] for i in images] == newest_first
    assert pages == len(newest_first)
    first_page = h.ok(api.request("GET", "/v1/images?limit=1", token=token))
    assert [i["id"] for i in first_page["images"]] == newest_first[:1]
    (link,) = first_page["images_links"]
    assert link["rel"] == "next"
    assert link["href"].startswith(f"{api.url}/v1/images?")
    assert "limit=1" in link["href"]
    assert f"marker={newest_first[0]}" in link["href"]
    # Ascending, and with a filter kept in the next links.
    ascending, _ = h.follow_pages(api, "/v1/images?limit=1&sort_dir=asc",
                                  token, key="images")
    assert [i["id"] for i in ascending] == newest_first[::-1]
    filtered, pages = h.follow_pages(
        api, f"/v1/images?limit=1&server_id={first['id']}", token,
        key="images")
    assert [i["id"] for i in filtered] == [img_1b["id"], img_1a_again["id"],
                                           img_1a["id"]]
    assert pages == 3


# --- deleting while saving, and failed exports ----------------------------------------


def test_delete_while_the_export_runs_answers_409_and_the_export_finishes_active(
        api):
    token, project = h.project_token()
    server = h.adopt(api, project_id=project, prefix="slow-")  # 1.5 s a task
    snapshot = h.available_snapshot(api, server["id"], token)
    image = h.export(api, server["id"], snapshot["id"], token)
    assert image["status"] == "saving"

    resp = api.request("DELETE", image_path(image["id"]), token=token)
    h.assert_fault(resp, 409, image["id"], "still being saved")
    assert get_image(api, image["id"], token)["status"] == "saving"
    assert h.get_server(api, server["id"], token)["task_state"] == "exporting"

    h.wait_idle(api, server["id"], token)
    done = get_image(api, image["id"], token)
    assert (done["status"], done["progress"], done["fault"]) == ("active", 100,
                                                                None)
    path = image_file(api, image["id"])
    with open(path, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == done["sha256"]
    assert [i["id"] for i in listed(api, token)] == [image["id"]]
    # Once it has ended it can be deleted.
    h.ok(api.request("DELETE", image_path(image["id"]), token=token), 204)
    assert not os.path.exists(path)


def test_a_failed_export_ends_error_with_a_fault_is_listed_and_deletes_without_a_file(
        api):
    token, project = h.project_token()
    server, snapshot, image = failed_image(api, token, project)
    assert image["snapshot_id"] == snapshot["id"]
    assert image["server_id"] == server["id"]
    assert image["fault"]["code"] == 500
    assert "injected failure" in image["fault"]["message"]
    assert "export_snapshot" in image["fault"]["message"]
    assert image["sha256"] is None
    assert image["location"] is None
    assert store_files(api, image["id"]) == []
    # The failure is the image's: the server is idle and its snapshot intact.
    assert h.get_server(api, server["id"], token)["task_state"] is None
    assert h.get_snapshot(api, server["id"], snapshot["id"],
                          token)["status"] == "available"
    assert listed(api, token) == [image]
    assert listed(api, token, "?status=error") == [image]

    resp = api.request("DELETE", image_path(image["id"]), token=token)
    assert resp.status_code == 204, resp.text
    h.assert_fault(api.request("GET", image_path(image["id"]), token=token),
                   404, image["id"])
    assert listed(api, token) == []
    assert store_files(api, image["id"]) == []


# --- unknown ids ---------------------------------------------------------------------------


def test_delete_of_an_unknown_image_answers_404_and_of_a_malformed_id_400_changing_nothing(
        api):
    token, project = h.project_token()
    _, _, image = active_image(api, token, project)
    unknown = str(uuid.uuid4())
    with h.changes_nothing(api):
        h.assert_fault(api.request("DELETE", image_path(unknown), token=token),
                       404, unknown)
        h.assert_fault(api.request("DELETE", image_path(unknown),
                                   token=h.ADMIN), 404, unknown)
        # An id that is no UUID is refused before any lookup.
        for method in ("DELETE", "GET"):
            h.assert_fault(api.request(method, image_path("not-a-uuid"),
                                       token=token), 400, "not-a-uuid",
                           "not a valid UUID")
    assert get_image(api, image["id"], token) == image
    assert os.path.exists(image_file(api, image["id"]))
    assert listed(api, token) == [image]

"""The ``nativesnap`` CLI as a user runs it: the venv's console script in a
subprocess, configured by NATIVESNAP_URL/NATIVESNAP_TOKEN, against a real
nativesnap-api with the fake driver (``slow-`` servers take [fake] task_delay
seconds per task, ``fail-`` servers fail every task)."""

import csv
import io
import json
import os
import pty
import select
import subprocess
import time

import yaml

from tests.functional import client_helpers as cli
from tests.functional.client_helpers import PAGE_SIZE
from tests.functional import helpers

pytest_plugins = ["tests.functional.client_fixtures"]

# The documented columns (docs/client.md).
SERVER_LIST = ["ID", "Name", "Status", "Task State", "Driver", "Hypervisor Ref",
               "Origin"]
SERVER_LIST_LONG = SERVER_LIST + ["Project ID", "Host", "Source Snapshot ID",
                                  "Linked", "Provision State", "Created At"]
SNAPSHOT_LIST = ["ID", "Name", "Server ID", "Status", "Progress", "Kind",
                 "Consistency", "Current", "Created At"]
SNAPSHOT_LIST_LONG = SNAPSHOT_LIST + ["Memory", "Quiesce", "Parent ID",
                                      "Size Bytes", "Frozen ms", "Paused ms",
                                      "Project ID"]
SERVER_FIELDS = ["id", "name", "project_id", "driver", "hypervisor_ref", "host",
                 "status", "task_state", "origin", "source_snapshot_id",
                 "linked", "flatten_progress", "provision_state",
                 "capabilities", "fault",
                 "created_at", "updated_at", "queued"]
SNAPSHOT_FIELDS = ["id", "server_id", "project_id", "name", "description",
                   "status", "progress", "kind", "memory", "quiesce",
                   "consistency", "parent_id", "is_current", "size_bytes",
                   "frozen_ms", "paused_ms", "volumes", "disks", "fault",
                   "created_at", "updated_at", "images", "policy_id",
                   "scheduled_at"]
IMAGE_LIST = ["ID", "Name", "Status", "Progress", "Disk Format", "Size Bytes",
              "Snapshot ID", "Created At"]
IMAGE_LIST_LONG = IMAGE_LIST + ["Server ID", "Backend", "Location", "SHA256",
                                "Project ID"]
IMAGE_FIELDS = ["id", "name", "project_id", "snapshot_id", "server_id",
                "backend", "disk_format", "status", "progress", "size_bytes",
                "sha256", "location", "fault", "flatten_progress",
                "fallback_reason", "created_at", "updated_at"]


def adopt(api, token, prefix="vm-", name=None):
    ref = helpers.unique(prefix)
    return cli.ok_json(cli.run(api, "server", "adopt", name or ref, "--driver",
                               "fake", "--hypervisor-ref", ref, "-f", "json",
                               token=token))


def create(api, token, server_id, name, *extra):
    return cli.ok_json(cli.run(api, "snapshot", "create", "--server", server_id,
                               name, "--wait", "--timeout", "30", "-f", "json",
                               *extra, token=token))


def export(api, token, snapshot_id, image_name):
    return cli.ok_json(cli.run(api, "snapshot", "export", snapshot_id,
                               "--image-name", image_name, "--wait",
                               "--timeout", "30", "-f", "json", token=token))


def image_ids(api, token, *args):
    rows = cli.ok_json(cli.run(api, "image", "list", *args, "-f", "json",
                               token=token))
    return sorted(r["ID"] for r in rows)


# --- servers ------------------------------------------------------------------


def test_server_adopt_show_list_and_delete_print_the_documented_json(
        client_api, admin_token):
    server = adopt(client_api, admin_token, name="web1")
    assert list(server) == SERVER_FIELDS
    assert server["name"] == "web1" and server["origin"] == "adopted"
    assert server["capabilities"]["revert_any"] is True  # a dict, not a string

    shown = cli.ok_json(cli.run(client_api, "server", "show", "web1", "-f",
                                "json", token=admin_token))
    assert shown["id"] == server["id"] and list(shown) == SERVER_FIELDS

    rows = cli.ok_json(cli.run(client_api, "server", "list", "-f", "json",
                               token=admin_token))
    assert [list(r) for r in rows] == [SERVER_LIST]
    assert rows[0]["ID"] == server["id"] and rows[0]["Task State"] is None
    long_rows = cli.ok_json(cli.run(client_api, "server", "list", "--long", "-f",
                                    "json", token=admin_token))
    assert list(long_rows[0]) == SERVER_LIST_LONG

    out = cli.ok(cli.run(client_api, "server", "delete", "web1",
                         token=admin_token))
    assert out == ""
    assert cli.ok_json(cli.run(client_api, "server", "list", "-f", "json",
                               token=admin_token)) == []


def test_server_list_follows_every_page_and_limit_stops_early(
        client_api, admin_token):
    ids = [adopt(client_api, admin_token)["id"] for _ in range(PAGE_SIZE * 2 + 1)]
    rows = cli.ok_json(cli.run(client_api, "server", "list", "-f", "json",
                               token=admin_token))
    assert sorted(r["ID"] for r in rows) == sorted(ids)  # three pages
    two = cli.ok_json(cli.run(client_api, "server", "list", "--limit", "2",
                              "--sort-key", "name", "--sort-dir", "asc",
                              "-f", "json", token=admin_token))
    assert len(two) == 2 and [r["Name"] for r in two] == sorted(
        r["Name"] for r in rows)[:2]


def test_value_csv_and_yaml_formats_with_column_selection(client_api,
                                                          admin_token):
    server = adopt(client_api, admin_token)
    value = cli.ok(cli.run(client_api, "server", "show", server["id"], "-f",
                           "value", "-c", "status", "-c", "driver",
                           token=admin_token))
    assert value.split() == ["fake", "ACTIVE"]
    rows = list(csv.reader(io.StringIO(cli.ok(cli.run(
        client_api, "server", "list", "-f", "csv", "-c", "ID", "-c", "Name",
        token=admin_token)))))
    assert rows == [["ID", "Name"], [server["id"], server["name"]]]
    doc = yaml.safe_load(cli.ok(cli.run(client_api, "server", "show",
                                        server["id"], "-f", "yaml",
                                        token=admin_token)))
    assert doc["hypervisor_ref"] == server["hypervisor_ref"]


def test_server_spawn_wait_ends_active_and_power_off_ends_shutoff(
        client_api, admin_token):
    server = adopt(client_api, admin_token)
    snap = create(client_api, admin_token, server["id"], "gold")
    result = cli.run(client_api, "server", "spawn", "copy", "--snapshot", "gold",
                     "--wait", "--timeout", "30", "-f", "json", token=admin_token)
    spawned = cli.ok_json(result)
    assert spawned["status"] == "ACTIVE" and spawned["origin"] == "spawned"
    assert spawned["source_snapshot_id"] == snap["id"] and spawned["linked"]
    assert "Spawning server copy: done (ACTIVE)" in result.stderr
    off = cli.ok_json(cli.run(client_api, "server", "spawn", "copy-off",
                              "--snapshot", snap["id"], "--full", "--power-off",
                              "--wait", "--timeout", "30", "-f", "json",
                              token=admin_token))
    assert off["status"] == "SHUTOFF" and off["linked"] is False


def test_server_revert_wait_returns_when_the_snapshot_is_current_again(
        client_api, admin_token):
    server = adopt(client_api, admin_token, prefix="slow-")
    s1 = create(client_api, admin_token, server["id"], "s1")
    create(client_api, admin_token, server["id"], "s2")
    result = cli.run(client_api, "server", "revert", server["name"], "s1",
                     "--wait", "--timeout", "30", token=admin_token)
    assert cli.ok(result) == ""
    assert "Reverting server" in result.stderr and "done" in result.stderr
    # --wait returned only once the task was over: nothing is left running.
    shown = cli.ok_json(cli.run(client_api, "server", "show", server["id"],
                                "-f", "json", token=admin_token))
    assert shown["task_state"] is None and shown["fault"] is None
    current = cli.ok_json(cli.run(client_api, "snapshot", "show", "--server",
                                  server["id"], s1["id"], "-f", "json",
                                  token=admin_token))
    assert current["is_current"] is True


def test_server_delete_of_several_reports_each_failure_and_exits_1(
        client_api, admin_token):
    server = adopt(client_api, admin_token)
    missing = "00000000-0000-4000-8000-000000000000"
    stderr = cli.fails(cli.run(client_api, "server", "delete", server["id"],
                               missing, token=admin_token),
                       f"Server {missing} could not be found",
                       "1 of 2 servers could not be deleted")
    assert server["id"] not in stderr.split("could not be deleted:")[-1]
    assert cli.ok_json(cli.run(client_api, "server", "list", "-f", "json",
                               token=admin_token)) == []


# --- snapshots ----------------------------------------------------------------


def test_snapshot_create_wait_ends_available_with_progress_lines_on_stderr(
        client_api, admin_token):
    server = adopt(client_api, admin_token, prefix="slow-")
    result = cli.run(client_api, "snapshot", "create", "--server", server["id"],
                     "s1", "--description", "before upgrade", "--wait",
                     "--timeout", "30", "-f", "json", token=admin_token)
    snap = cli.ok_json(result)
    assert list(snap) == SNAPSHOT_FIELDS
    assert snap["status"] == "available" and snap["progress"] == 100
    assert snap["description"] == "before upgrade"
    lines = result.stderr.splitlines()
    # stderr is a pipe: plain lines, no terminal escapes, ending with the outcome.
    assert "\r" not in result.stderr and "\x1b" not in result.stderr
    assert any(line.startswith("Creating snapshot s1: ") and line.endswith("%")
               for line in lines[:-1])
    assert lines[-1].startswith("Creating snapshot s1: done (available)")


def test_snapshot_create_without_wait_answers_creating_at_once(client_api,
                                                               admin_token):
    server = adopt(client_api, admin_token, prefix="slow-")
    snap = cli.ok_json(cli.run(client_api, "snapshot", "create", "--server",
                               server["id"], "quick", "-f", "json",
                               token=admin_token))
    assert snap["status"] == "creating"
    helpers.wait_idle(client_api, server["id"], admin_token)


def test_snapshot_list_shows_documented_columns_across_pages_and_filters(
        client_api, admin_token):
    one, two = adopt(client_api, admin_token), adopt(client_api, admin_token)
    mine = [create(client_api, admin_token, one["id"], f"a{i}")["id"]
            for i in range(PAGE_SIZE + 1)]
    other = create(client_api, admin_token, two["id"], "b0")["id"]

    rows = cli.ok_json(cli.run(client_api, "snapshot", "list", "-f", "json",
                               token=admin_token))
    assert all(list(r) == SNAPSHOT_LIST for r in rows)
    assert sorted(r["ID"] for r in rows) == sorted(mine + [other])  # two pages
    by_server = cli.ok_json(cli.run(client_api, "snapshot", "list", "--server",
                                    one["name"], "-f", "json",
                                    token=admin_token))
    assert sorted(r["ID"] for r in by_server) == sorted(mine)
    assert [r["Current"] for r in by_server].count(True) == 1
    long_rows = cli.ok_json(cli.run(client_api, "snapshot", "list", "--long",
                                    "--status", "available", "-f", "json",
                                    token=admin_token))
    assert len(long_rows) == len(mine) + 1
    assert list(long_rows[0]) == SNAPSHOT_LIST_LONG


def test_snapshot_show_finds_a_snapshot_by_name_or_by_id(client_api,
                                                         admin_token):
    server = adopt(client_api, admin_token)
    snap = create(client_api, admin_token, server["id"], "named")
    by_name = cli.ok_json(cli.run(client_api, "snapshot", "show", "named", "-f",
                                  "json", token=admin_token))
    by_id = cli.ok_json(cli.run(client_api, "snapshot", "show", snap["id"],
                                "--server", server["id"], "-f", "json",
                                token=admin_token))
    assert by_name["id"] == by_id["id"] == snap["id"]
    assert list(by_id) == SNAPSHOT_FIELDS


def test_snapshot_delete_wait_ends_when_the_snapshot_is_gone(client_api,
                                                             admin_token):
    server = adopt(client_api, admin_token, prefix="slow-")
    snap = create(client_api, admin_token, server["id"], "doomed")
    result = cli.run(client_api, "snapshot", "delete", "doomed", "--wait",
                     "--timeout", "30", token=admin_token)
    assert cli.ok(result) == ""
    assert "Deleting snapshot doomed: done" in result.stderr
    resp = client_api.request("GET", helpers.snapshot_path(server["id"],
                                                           snap["id"]),
                              token=admin_token)
    assert resp.status_code == 404


def test_snapshot_export_wait_ends_with_the_active_image(client_api,
                                                         admin_token):
    server = adopt(client_api, admin_token)
    snap = create(client_api, admin_token, server["id"], "to-export")
    image = cli.ok_json(cli.run(client_api, "snapshot", "export", "to-export",
                                "--image-name", "golden", "--wait", "--timeout",
                                "30", "-f", "json", token=admin_token))
    assert list(image) == IMAGE_FIELDS
    assert image["status"] == "active" and image["name"] == "golden"
    assert image["snapshot_id"] == snap["id"] and len(image["sha256"]) == 64
    path = image["location"][len("file://"):]
    assert os.path.getsize(path) == image["size_bytes"]
    shown = cli.ok_json(cli.run(client_api, "snapshot", "show", snap["id"],
                                "-f", "json", token=admin_token))
    assert [i["id"] for i in shown["images"]] == [image["id"]]


def test_snapshot_export_image_ref_reaches_the_api_which_the_local_store_refuses(
        client_api, admin_token):
    """--image-ref is sent as the export body's image_ref: this API's image
    store is the local one, which has no image service, so it answers 400
    before anything is recorded (filling a Glance image is
    test_image_glance.py's); a value that is not a UUID fails the schema."""
    server = adopt(client_api, admin_token)
    snap = create(client_api, admin_token, server["id"], "s")
    base = ("snapshot", "export", snap["id"], "--image-name", "g")
    cli.fails(cli.run(client_api, *base, "--image-ref",
                      "44444444-4444-4444-8444-444444444444",
                      token=admin_token),
              "image_ref names an image of an image service",
              "local image store has none", "HTTP 400")
    cli.fails(cli.run(client_api, *base, "--image-ref", "not-a-uuid",
                      token=admin_token), "image_ref", "HTTP 400")
    assert image_ids(client_api, admin_token) == []
    assert export(client_api, admin_token, snap["id"], "g")["status"] == \
        "active"  # the same export without --image-ref


# --- images -------------------------------------------------------------------


def test_image_list_shows_an_export_with_the_documented_columns(client_api,
                                                                admin_token):
    server = adopt(client_api, admin_token)
    snap = create(client_api, admin_token, server["id"], "gold")
    image = export(client_api, admin_token, snap["id"], "golden")
    rows = cli.ok_json(cli.run(client_api, "image", "list", "-f", "json",
                               token=admin_token))
    assert rows == [{"ID": image["id"], "Name": "golden", "Status": "active",
                     "Progress": 100, "Disk Format": "qcow2",
                     "Size Bytes": image["size_bytes"],
                     "Snapshot ID": snap["id"],
                     "Created At": image["created_at"]}]
    long_rows = cli.ok_json(cli.run(client_api, "image", "list", "--long",
                                    "-f", "json", token=admin_token))
    assert list(long_rows[0]) == IMAGE_LIST_LONG
    assert long_rows[0]["Server ID"] == server["id"]
    assert long_rows[0]["Backend"] == "local"
    assert long_rows[0]["Location"] == image["location"]
    assert long_rows[0]["SHA256"] == image["sha256"]
    assert long_rows[0]["Project ID"] == admin_token.split(":")[1]


def test_image_list_follows_pages_and_filters_by_snapshot_server_and_status(
        client_api, admin_token):
    one, two = adopt(client_api, admin_token), adopt(client_api, admin_token)
    first = create(client_api, admin_token, one["id"], "first")
    second = create(client_api, admin_token, one["id"], "second")
    other = create(client_api, admin_token, two["id"], "other")
    of_first = [export(client_api, admin_token, first["id"], f"f{i}")["id"]
                for i in range(PAGE_SIZE)]
    of_second = export(client_api, admin_token, second["id"], "s0")["id"]
    of_other = export(client_api, admin_token, other["id"], "o0")["id"]
    everything = sorted(of_first + [of_second, of_other])

    assert image_ids(client_api, admin_token) == everything  # two pages
    assert image_ids(client_api, admin_token, "--snapshot",
                     "first") == sorted(of_first)
    assert image_ids(client_api, admin_token, "--snapshot",
                     second["id"]) == [of_second]
    assert image_ids(client_api, admin_token, "--server",
                     one["name"]) == sorted(of_first + [of_second])
    assert image_ids(client_api, admin_token, "--server", two["id"],
                     "--snapshot", "other") == [of_other]
    assert image_ids(client_api, admin_token, "--status",
                     "active") == everything
    assert image_ids(client_api, admin_token, "--status", "error") == []
    named = cli.ok_json(cli.run(client_api, "image", "list", "--sort-key",
                                "name", "--sort-dir", "asc", "--limit", "2",
                                "-f", "json", token=admin_token))
    assert [r["Name"] for r in named] == ["f0", "f1"]
    cli.fails(cli.run(client_api, "image", "list", "--status", "gone",
                      token=admin_token), "HTTP 400")


def test_image_list_all_projects_shows_every_projects_images_to_admins(
        client_api, admin_token):
    server = adopt(client_api, admin_token)
    snap = create(client_api, admin_token, server["id"], "s")
    image = export(client_api, admin_token, snap["id"], "theirs")
    other_admin = f"admin:{helpers.unique('proj-')}"
    assert image_ids(client_api, other_admin) == []
    assert image["id"] in image_ids(client_api, other_admin, "--all-projects")
    cli.fails(cli.run(client_api, "image", "list", "--all-projects",
                      token="alice:proj-a"), "HTTP 403", "Policy")


def test_image_show_finds_an_image_by_name_or_by_id(client_api, admin_token):
    server = adopt(client_api, admin_token)
    snap = create(client_api, admin_token, server["id"], "s")
    image = export(client_api, admin_token, snap["id"], "named")
    by_name = cli.ok_json(cli.run(client_api, "image", "show", "named", "-f",
                                  "json", token=admin_token))
    by_id = cli.ok_json(cli.run(client_api, "image", "show", image["id"], "-f",
                                "json", token=admin_token))
    assert by_name == by_id and list(by_id) == IMAGE_FIELDS
    assert by_id["id"] == image["id"] and by_id["status"] == "active"
    assert by_id["snapshot_id"] == snap["id"]
    assert by_id["server_id"] == server["id"]
    value = cli.ok(cli.run(client_api, "image", "show", "named", "-f", "value",
                           "-c", "status", token=admin_token))
    assert value.strip() == "active"
    twin = export(client_api, admin_token, snap["id"], "named")
    cli.fails(cli.run(client_api, "image", "show", "named", token=admin_token),
              "2 images are named 'named'", twin["id"])
    cli.fails(cli.run(client_api, "image", "show", "no-such-image",
                      token=admin_token),
              "No image with ID or name 'no-such-image'")


def test_image_delete_removes_the_image_and_its_file(client_api, admin_token):
    server = adopt(client_api, admin_token)
    snap = create(client_api, admin_token, server["id"], "s")
    image = export(client_api, admin_token, snap["id"], "doomed")
    path = image["location"][len("file://"):]
    assert os.path.exists(path)
    out = cli.ok(cli.run(client_api, "image", "delete", "doomed",
                         token=admin_token))
    assert out == ""
    assert not os.path.exists(path)
    cli.fails(cli.run(client_api, "image", "show", image["id"],
                      token=admin_token),
              f"Image {image['id']} could not be found.", "HTTP 404")
    assert image_ids(client_api, admin_token) == []
    # Of several, each failure is reported and the others are deleted.
    kept = export(client_api, admin_token, snap["id"], "next")
    stderr = cli.fails(cli.run(client_api, "image", "delete", kept["id"],
                               image["id"], token=admin_token),
                       f"Failed to delete image {image['id']}",
                       "1 of 2 images could not be deleted")
    assert kept["id"] not in stderr.split("could not be deleted:")[-1]
    assert image_ids(client_api, admin_token) == []


def test_image_delete_of_an_export_still_saving_exits_1_with_the_conflict(
        client_api, admin_token):
    server = adopt(client_api, admin_token, prefix="slow-")
    snap = create(client_api, admin_token, server["id"], "s")
    saving = cli.ok_json(cli.run(client_api, "snapshot", "export", snap["id"],
                                 "--image-name", "busy", "-f", "json",
                                 token=admin_token))
    assert saving["status"] == "saving"
    cli.fails(cli.run(client_api, "image", "delete", saving["id"],
                      token=admin_token), "still being saved", "HTTP 409")
    helpers.wait_idle(client_api, server["id"], admin_token)
    cli.ok(cli.run(client_api, "image", "delete", "busy", token=admin_token))
    assert image_ids(client_api, admin_token) == []


def test_an_image_outlives_its_snapshot_and_server_and_can_be_deleted(
        client_api, admin_token):
    server = adopt(client_api, admin_token)
    snap = create(client_api, admin_token, server["id"], "s")
    image = export(client_api, admin_token, snap["id"], "orphan")
    cli.ok(cli.run(client_api, "snapshot", "delete", snap["id"], "--server",
                   server["id"], "--wait", "--timeout", "30",
                   token=admin_token))
    cli.ok(cli.run(client_api, "server", "delete", server["id"],
                   token=admin_token))
    deadline = time.monotonic() + 30
    while client_api.request("GET", f"/v1/servers/{server['id']}",
                             token=admin_token).status_code != 404:
        assert time.monotonic() < deadline, "the server was not deleted"
        time.sleep(0.05)

    assert image_ids(client_api, admin_token) == [image["id"]]
    # Its server and snapshot are gone: their ids still filter.
    assert image_ids(client_api, admin_token, "--server",
                     server["id"]) == [image["id"]]
    assert image_ids(client_api, admin_token, "--snapshot",
                     snap["id"]) == [image["id"]]
    shown = cli.ok_json(cli.run(client_api, "image", "show", "orphan", "-f",
                                "json", token=admin_token))
    assert shown["status"] == "active" and shown["snapshot_id"] == snap["id"]
    assert shown["server_id"] == server["id"]
    cli.ok(cli.run(client_api, "image", "delete", "orphan", token=admin_token))
    assert image_ids(client_api, admin_token) == []
    assert not os.path.exists(image["location"][len("file://"):])


# --- --wait failures -----------------------------------------------------------------


def test_wait_exits_1_with_the_fault_when_the_snapshot_turns_error(
        client_api, admin_token):
    server = adopt(client_api, admin_token, prefix="fail-")
    result = cli.run(client_api, "snapshot", "create", "--server", server["id"],
                     "doomed", "--wait", "--timeout", "30", token=admin_token)
    stderr = cli.fails(result, "doomed", "went to status 'error'",
                       "injected failure")
    assert result.stdout == ""
    assert "Creating snapshot doomed: failed" in stderr


def test_wait_exits_1_naming_the_timeout_when_it_passes(client_api,
                                                        admin_token):
    server = adopt(client_api, admin_token, prefix="slow-")  # 1.5 s a task
    started = time.monotonic()
    result = cli.run(client_api, "snapshot", "create", "--server", server["id"],
                     "patient", "--wait", "--timeout", "0.2", token=admin_token)
    elapsed = time.monotonic() - started
    cli.fails(result, "Timed out after 0.2 s", "to be available",
              "it is creating")
    assert elapsed < 10
    # The snapshot itself goes on and ends available.
    helpers.wait_idle(client_api, server["id"], admin_token)
    rows = cli.ok_json(cli.run(client_api, "snapshot", "list", "--server",
                               server["id"], "-f", "json", token=admin_token))
    assert [r["Status"] for r in rows] == ["available"]


def test_progress_bar_is_drawn_only_when_stderr_is_a_terminal(client_api,
                                                              admin_token):
    server = adopt(client_api, admin_token, prefix="slow-")
    controller, terminal = pty.openpty()
    try:
        env = cli.clean_env(NATIVESNAP_URL=client_api.url,
                            NATIVESNAP_TOKEN=admin_token)
        proc = subprocess.Popen(
            [cli.NATIVESNAP, "snapshot", "create", "--server", server["id"],
             "on-tty", "--wait", "--timeout", "30", "-f", "value", "-c",
             "status"], stdout=subprocess.PIPE, stderr=terminal, env=env,
            stdin=subprocess.DEVNULL)
        os.close(terminal)
        terminal = None
        seen = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(controller, 4096)
                except OSError:  # the terminal closed: the process is done
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        out, _ = proc.communicate(timeout=30)
    finally:
        os.close(controller)
        if terminal is not None:
            os.close(terminal)
    assert proc.returncode == 0 and out.decode().strip() == "available"
    text = seen.decode()
    assert "\rCreating snapshot on-tty [" in text  # a bar redrawn in place
    assert "] 100%" in text and "#" * 30 in text
    assert "Creating snapshot on-tty: done (available)" in text


# --- errors -------------------------------------------------------------------


def test_unknown_snapshot_exits_1_with_the_api_message_and_request_id(
        client_api, admin_token):
    server = adopt(client_api, admin_token)
    missing = "00000000-0000-4000-8000-000000000001"
    result = cli.run(client_api, "snapshot", "show", "--server", server["id"],
                     missing, token=admin_token)
    stderr = cli.fails(result, f"Snapshot {missing} could not be found.",
                       "HTTP 404", "Request-ID: req-")
    request_id = stderr.split("Request-ID: ")[1].split(")")[0]
    assert request_id in client_api.read_log()  # the service logged that request
    assert result.stdout == ""
    cli.fails(cli.run(client_api, "snapshot", "show", "no-such-name",
                      token=admin_token), "No snapshot with ID or name "
                                          "'no-such-name'")


def test_conflict_exits_1_with_the_api_message(client_api, admin_token):
    server = adopt(client_api, admin_token, prefix="slow-")
    cli.ok(cli.run(client_api, "snapshot", "create", "--server", server["id"],
                   "first", token=admin_token))
    cli.fails(cli.run(client_api, "snapshot", "create", "--server", server["id"],
                      "second", token=admin_token),
              f"Server {server['id']} is busy with task 'snapshotting'",
              "HTTP 409")
    helpers.wait_idle(client_api, server["id"], admin_token)


def test_bad_input_exits_1_with_the_api_message_and_changes_nothing(
        client_api, admin_token):
    server = adopt(client_api, admin_token)
    cli.fails(cli.run(client_api, "snapshot", "create", "--server", server["id"],
                      " padded", token=admin_token),
              "'snapshot/name' must be 1-255 characters", "HTTP 400")
    cli.fails(cli.run(client_api, "snapshot", "create", "--server", server["id"],
                      "q", "--quiesce", "sometimes", token=admin_token),
              "quiesce", "HTTP 400")
    assert cli.ok_json(cli.run(client_api, "snapshot", "list", "-f", "json",
                               token=admin_token)) == []


def test_a_member_adopting_exits_1_with_the_policy_message(client_api):
    result = cli.run(client_api, "server", "adopt", "x", "--driver", "fake",
                     "--hypervisor-ref", "vm-x", token="alice:proj-a")
    cli.fails(result, "HTTP 403", "Policy")


def test_missing_or_wrong_settings_exit_1_with_what_to_set(client_api):
    cli.fails(cli.run(None, "server", "list", token=None),
              "NATIVESNAP_URL", "NATIVESNAP_TOKEN")
    cli.fails(cli.run(client_api, "server", "list", token=None),
              "No credentials", "NATIVESNAP_TOKEN")
    cli.fails(cli.run(client_api, "server", "list", token="not a token"),
              "X-Auth-Token must be '<user>:<project>'", "HTTP 401")
    cli.fails(cli.run(client_api, "server", "list", token="a:b",
                      url="http://127.0.0.1:9"), "Unable to establish "
                                                 "connection")


def test_os_variables_authenticate_with_keystone_and_use_the_catalog_endpoint(
        client_api, admin_token):
    server = adopt(client_api, admin_token)
    # The catalog names the API with /v1, as operators often register it.
    with cli.IdentityStub(client_api.url + "/v1", token=admin_token) as keystone:
        keystone_env = {"OS_AUTH_URL": keystone.url, "OS_USERNAME": "demo",
                        "OS_PASSWORD": "secret", "OS_PROJECT_NAME": "demo",
                        "OS_USER_DOMAIN_NAME": "Default",
                        "OS_PROJECT_DOMAIN_NAME": "Default"}
        rows = cli.ok_json(cli.run(None, "server", "list", "-f", "json",
                                   token=None, env=keystone_env))
        assert [r["ID"] for r in rows] == [server["id"]]
        assert keystone.requests[-1]["auth"]["identity"]["methods"] == [
            "password"]
        wrong = dict(keystone_env, OS_PASSWORD="nope")
        cli.fails(cli.run(None, "server", "list", token=None, env=wrong),
                  "HTTP 401")


def test_microversion_can_be_pinned_from_the_environment(client_api,
                                                         admin_token):
    server = adopt(client_api, admin_token)
    snap = create(client_api, admin_token, server["id"], "v")
    shown = cli.ok_json(cli.run(client_api, "snapshot", "show", snap["id"],
                                "-f", "json", token=admin_token,
                                env={"NATIVESNAP_API_VERSION": "1.0"}))
    assert "images" not in shown  # 1.1 added them
    cli.fails(cli.run(client_api, "server", "list", token=admin_token,
                      env={"NATIVESNAP_API_VERSION": "1.9"}),
              "supports microversions 1.0-1.2, not 1.9")


# --- help and completion ------------------------------------------------------


def test_help_of_every_command_shows_its_usage_and_an_example(client_api):
    from nativesnap.client import commands

    for name in commands.COMMANDS:
        result = cli.run(None, *name.split(), "--help", token=None)
        out = cli.ok(result)
        assert f"usage: nativesnap {name}" in out, out
        assert f"examples:\n  nativesnap {name}" in out, out


def test_complete_prints_a_bash_completion_that_knows_every_command():
    out = cli.ok(cli.run(None, "complete", token=None))
    assert "_nativesnap()" in out and "complete -F _nativesnap nativesnap" in out
    for word in ("server", "snapshot", "image", "revert", "spawn", "export",
                 "adopt"):
        assert word in out
    # The options of a command are offered too.
    assert "--wait" in out and "--timeout" in out
    # bash accepts the script.
    check = subprocess.run(["bash", "-n"], input=out, text=True, timeout=30,
                           capture_output=True)
    assert check.returncode == 0, check.stderr


def test_an_empty_listing_prints_an_empty_json_list(client_api, admin_token):
    adopt(client_api, admin_token)
    out = cli.ok(cli.run(client_api, "snapshot", "list", "-f", "json",
                         token=admin_token))
    assert json.loads(out) == []


# --- compute services ---------------------------------------------------------

SERVICE_LIST = ["ID", "Host", "Binary", "Drivers", "State", "Status",
                "Disabled Reason", "Last Seen At"]
SERVICE_LIST_LONG = SERVICE_LIST + ["Host-free Drivers", "RPC Version",
                                    "Updated At"]


def test_service_list_shows_the_api_compute_and_set_disables_and_enables_it(
        client_api, admin_token):
    # The all-in-one nativesnap-api runs its own compute service.
    rows = cli.ok_json(cli.run(client_api, "service", "list", "-f", "json",
                               token=admin_token))
    assert [list(r) for r in rows] == [SERVICE_LIST]
    row = rows[0]
    assert row["Host"] == "test-host" and row["Drivers"] == ["fake"]
    assert (row["State"], row["Status"]) == ("up", "enabled")
    long_rows = cli.ok_json(cli.run(client_api, "service", "list", "--long",
                                    "-f", "json", token=admin_token))
    assert list(long_rows[0]) == SERVICE_LIST_LONG
    try:
        shown = cli.ok_json(cli.run(
            client_api, "service", "set", "test-host", "--disable", "--reason",
            "maintenance", "-f", "json", token=admin_token))
        assert shown["id"] == row["ID"] and shown["status"] == "disabled"
        rows = cli.ok_json(cli.run(client_api, "service", "list", "-f", "json",
                                   token=admin_token))
        assert (rows[0]["Status"], rows[0]["Disabled Reason"]) == (
            "disabled", "maintenance")
    finally:
        shown = cli.ok_json(cli.run(client_api, "service", "set", row["ID"],
                                    "--enable", "-f", "json",
                                    token=admin_token))
    assert shown["status"] == "enabled" and shown["disabled_reason"] is None
    cli.fails(cli.run(client_api, "service", "list",
                      token=f"alice:{helpers.unique('proj-')}"), "(HTTP 403)")

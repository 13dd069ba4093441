"""The task lifecycle over HTTP: one task per server (409 naming the running
task), SIGTERM that finishes running tasks within its bound, and start-up
recovery after ``kill -9`` in the middle of tasks.

Servers whose hypervisor_ref starts with ``slow-`` make every fake task take
``[fake] task_delay`` seconds, so tasks can be seen in flight.
"""

import contextlib
import signal
import time

import requests

from tests import fixtures
from tests.functional import helpers as h


def _start(api, method, path, body=None, code=202):
    resp = api.request(method, path, json=body)
    return h.ok(resp, code)


# --- one task at a time ------------------------------------------------------------


def test_every_mutating_request_while_a_task_runs_answers_409_naming_that_task(api):
    tasks = ("snapshotting", "exporting", "reverting", "deleting_snapshot")
    servers = {task: h.adopt(api, prefix="slow-")["id"] for task in tasks}
    # Each server gets an available snapshot first (the slow creates overlap).
    base = {task: h.create_snapshot(api, sid, wait=False)["id"]
            for task, sid in servers.items()}
    for sid in servers.values():
        h.wait_idle(api, sid)
    before = h.db_query(api, "SELECT count(*) FROM snapshots")[0][0]

    started = {
        "snapshotting": _start(api, "POST", h.snapshot_path(servers["snapshotting"]),
                               {"snapshot": {"name": "running"}})["snapshot"],
        "exporting": _start(api, "POST", h.snapshot_path(
            servers["exporting"], base["exporting"]) + "/action",
            {"export": {"image_name": "running"}})["image"],
        "reverting": _start(api, "POST", f"/v1/servers/{servers['reverting']}/action",
                            {"revert": {"snapshot_id": base["reverting"]}}),
        "deleting_snapshot": _start(api, "DELETE", h.snapshot_path(
            servers["deleting_snapshot"], base["deleting_snapshot"]))["snapshot"],
    }
    assert started["snapshotting"]["status"] == "creating"
    assert started["exporting"]["status"] == "saving"
    assert started["reverting"] is None
    assert started["deleting_snapshot"]["status"] == "deleting"

    for task, sid in servers.items():
        view = h.get_server(api, sid)
        assert view["task_state"] == task, view
        snap = base[task]
        attempts = [
            ("POST", h.snapshot_path(sid), {"snapshot": {"name": "second"}}),
            ("POST", f"/v1/servers/{sid}/action", {"revert": {"snapshot_id": snap}}),
            ("POST", h.snapshot_path(sid, snap) + "/action",
             {"export": {"image_name": "second"}}),
            ("DELETE", f"/v1/servers/{sid}", None),
        ]
        if task != "deleting_snapshot":
            attempts.append(("DELETE", h.snapshot_path(sid, snap), None))
        for method, path, body in attempts:
            resp = api.request(method, path, token=h.ALICE, json=body)
            if task == "deleting_snapshot" and path.endswith("/action"):
                # The revert or export of the very snapshot being deleted is
                # refused for the snapshot's own state, which it names.
                h.assert_fault(resp, 409, snap, "is deleting")
            else:
                h.assert_fault(resp, 409, task, sid)
        # Still the same task: the refused requests took nothing over.
        assert h.get_server(api, sid)["task_state"] == task

    # The running create reports its progress until it is available.
    seen = set()

    def progressed():
        view = h.get_snapshot(api, servers["snapshotting"],
                              started["snapshotting"]["id"])
        seen.add((view["status"], view["progress"]))
        return view["status"] == "available"

    api.wait_for(progressed, timeout=15, what="the running create to finish")
    assert any(status == "creating" and 0 < p < 100 for status, p in seen), seen
    assert ("available", 100) in seen
    for sid in servers.values():
        assert h.wait_idle(api, sid)["fault"] is None
    # The refused requests created nothing: one snapshot more (the running
    # create), one less (the running delete), one image (the running export).
    assert h.db_query(api, "SELECT count(*) FROM snapshots")[0][0] == before
    assert h.get_snapshot(api, servers["snapshotting"],
                          started["snapshotting"]["id"])["status"] == "available"
    images = h.get_snapshot(api, servers["exporting"], base["exporting"],
                            headers=h.V1_1)["images"]
    assert [(i["id"], i["status"]) for i in images] == [
        (started["exporting"]["id"], "active")]
    h.assert_fault(api.request("GET", h.snapshot_path(
        servers["deleting_snapshot"], base["deleting_snapshot"])), 404)


def test_deleting_a_snapshot_while_a_spawn_from_it_runs_answers_409_naming_the_new_server(
        api):
    source = h.adopt(api, prefix="slow-")["id"]
    snap = h.available_snapshot(api, source)["id"]
    child = h.spawn(api, snap, linked=False, wait=False)
    assert (child["status"], child["task_state"]) == ("BUILD", "spawning")
    resp = api.request("DELETE", h.snapshot_path(source, snap), token=h.ALICE)
    h.assert_fault(resp, 409, child["id"])
    resp = api.request("POST", h.snapshot_path(child["id"]), token=h.ALICE,
                       json={"snapshot": {"name": "early"}})
    h.assert_fault(resp, 409, "spawning")
    done = h.wait_idle(api, child["id"])
    assert (done["status"], done["linked"]) == ("ACTIVE", False)


# --- a service of the test's own -----------------------------------------------------


@contextlib.contextmanager
def own_api(tmp_path, db_url, **sections):
    """A nativesnap-api of this test alone; killed at the end if still running."""
    state = tmp_path / "own-api"
    state.mkdir()
    server = fixtures.APIServer(str(state), db_url, extra_conf=sections)
    server.manage("db", "sync")
    server.start()
    try:
        yield server
    finally:
        server.kill()


def _refuses_connections(api):
    try:
        requests.get(api.url + "/v1", timeout=1)
    except requests.ConnectionError:
        return True
    return False


def test_sigterm_stops_new_connections_waits_for_tasks_up_to_the_bound_and_exits_0(
        tmp_path, db_url):
    delay, bound = 2.0, 4
    with own_api(tmp_path, db_url, fake={"task_delay": str(delay),
                                         "hang_seconds": "60"},
                 DEFAULT={"shutdown_timeout": str(int(bound)), "task_workers": "2",
                          "task_queue_size": "0"}) as api:
        slow = h.adopt(api, prefix="slow-")["id"]
        hung = h.adopt(api, prefix="hang-")["id"]
        finished = h.create_snapshot(api, slow, wait=False)["id"]
        left = h.create_snapshot(api, hung, wait=False)["id"]
        h.wait_task(api, slow, "snapshotting")
        h.wait_task(api, hung, "snapshotting")
        # Both workers are busy and no queue is allowed: a third task is
        # refused with 503, records nothing, and its server is not left locked.
        third = h.adopt(api)["id"]
        resp = api.request("POST", h.snapshot_path(third), token=h.ALICE,
                           json={"snapshot": {"name": "refused"}})
        h.assert_fault(resp, 503, "retry later")
        assert h.get_server(api, third)["task_state"] is None
        assert h.db_query(api, "SELECT count(*) FROM snapshots WHERE server_id = :s",
                          s=third) == [(0,)]
        signalled = time.monotonic()
        api.proc.send_signal(signal.SIGTERM)
        api.wait_for(lambda: _refuses_connections(api), timeout=delay / 2,
                     what="the API to stop taking connections")
        assert api.proc.poll() is None  # still waiting for its tasks
        assert api.proc.wait(timeout=bound + 5) == 0
        elapsed = time.monotonic() - signalled
        # It waited the whole shutdown_timeout for the hung task, and no longer.
        assert bound <= elapsed < bound + 3
        # The slow task finished before the exit ...
        assert h.db_query(api, "SELECT status, progress FROM snapshots "
                               "WHERE id = :i", i=finished) == [("available", 100)]
        assert h.db_query(api, "SELECT task_state FROM servers WHERE id = :i",
                          i=slow) == [(None,)]
        # ... the hung one was left to start-up recovery, which rolls it back.
        assert "stopped (1 task(s) left to recovery)" in api.read_log()
        assert h.db_query(api, "SELECT status FROM snapshots WHERE id = :i",
                          i=left) == [("creating",)]
        api.start()
        assert h.get_server(api, hung)["task_state"] is None
        after = h.get_snapshot(api, hung, left)
        assert after["status"] == "error"
        assert "interrupted by a restart" in after["fault"]["message"]
        assert h.get_snapshot(api, slow, finished)["status"] == "available"


def test_restart_after_kill_9_mid_task_leaves_nothing_creating_deleting_or_locked(
        tmp_path, db_url):
    # Long enough tasks that all five are surely still running at the kill.
    with own_api(tmp_path, db_url, fake={"task_delay": "2.5"}) as api:
        names = ("create", "delete", "export", "revert", "spawn")
        sids = {n: h.adopt(api, prefix="slow-")["id"] for n in names}
        pending = {n: h.create_snapshot(api, sids[n], wait=False)["id"]
                   for n in names if n != "create"}
        for n in pending:
            h.wait_idle(api, sids[n])
        created = h.create_snapshot(api, sids["create"], wait=False)["id"]
        _start(api, "DELETE", h.snapshot_path(sids["delete"], pending["delete"]))
        image = _start(api, "POST", h.snapshot_path(
            sids["export"], pending["export"]) + "/action",
            {"export": {"image_name": "interrupted"}})["image"]["id"]
        _start(api, "POST", f"/v1/servers/{sids['revert']}/action",
               {"revert": {"snapshot_id": pending["revert"]}})
        child = h.spawn(api, pending["spawn"], wait=False)["id"]
        busy = h.db_query(api, "SELECT count(*) FROM servers "
                               "WHERE task_state IS NOT NULL")[0][0]
        assert busy == 5  # every task is in flight

        api.kill()  # SIGKILL: no shutdown, no cleanup
        api.start()

        assert h.db_query(api, "SELECT id, status FROM snapshots WHERE status "
                               "IN ('creating', 'deleting')") == []
        assert h.db_query(api, "SELECT id, task_state FROM servers "
                               "WHERE task_state IS NOT NULL") == []
        assert h.db_query(api, "SELECT id FROM images "
                               "WHERE status = 'saving'") == []
        assert "Start-up recovery finished 5 interrupted task(s)" in api.read_log()

        # What each interrupted task left, as the API shows it.
        rolled_back = h.get_snapshot(api, sids["create"], created)
        assert rolled_back["status"] == "error"
        assert "interrupted by a restart" in rolled_back["fault"]["message"]
        intact = h.get_snapshot(api, sids["delete"], pending["delete"])
        assert intact["status"] == "error_deleting"
        assert "delete it again" in intact["fault"]["message"]
        (exported,) = h.get_snapshot(api, sids["export"], pending["export"],
                                     headers=h.V1_1)["images"]
        assert (exported["id"], exported["status"]) == (image, "error")
        assert "export the snapshot again" in exported["fault"]["message"]
        spawned = h.get_server(api, child)
        assert spawned["status"] == "ERROR"
        assert "interrupted by a restart" in spawned["fault"]["message"]
        for sid in sids.values():
            assert h.get_server(api, sid)["status"] == "ACTIVE"

        # The recovered records can be cleaned up through the API.
        for sid, snap in ((sids["create"], created),
                          (sids["delete"], pending["delete"])):
            resp = api.request("DELETE", h.snapshot_path(sid, snap))
            assert h.ok(resp, 202)["snapshot"]["status"] == "deleting"
        resp = api.request("DELETE", f"/v1/servers/{child}")
        assert resp.status_code == 204, resp.text
        for sid, snap in ((sids["create"], created),
                          (sids["delete"], pending["delete"])):
            h.wait_idle(api, sid)
            h.assert_fault(api.request("GET", h.snapshot_path(sid, snap)), 404)

"""The scheduler meets a busy server, a full store and a failed delete
(fake driver, sqlite; docs/scheduler.md, "Queued requests", "Storage guard",
"Failed deletes"):

- a policy's take that comes due while the user's revert runs waits in the
  server's queue (its snapshot ``queued``, listed in the server view at 1.2)
  and is taken after the revert, on the state the revert left; meanwhile a
  user's plain snapshot still gets 409, ``"queue": true`` needs 1.2 and
  with it waits behind the scheduler's take, and a queued snapshot deleted
  before its turn is gone at once;
- below ``[scheduler] min_free_percent`` the take is skipped, the policy's
  outcome for the server says why, and no snapshot is made;
- a delete that fails leaves the snapshot ``error_deleting`` and the server
  free (no task lock); the periodic retry waits its back-off on the
  scheduler's clock and then deletes it.
"""

import datetime
import os

import pytest

from tests import fixtures
from tests.functional import helpers as h
from tests.functional import scheduler_helpers as sh

TOKEN = h.ALICE
WAIT = 30  # bound of every wait on the service
TASK_DELAY = 3.0  # seconds a slow-* server's task takes
V1_1 = h.V1_1


@pytest.fixture
def service(tmp_path):
    """start(**sections) -> a running nativesnap-api (fake driver, sqlite)
    whose scheduler runs every 0.2 s on a clock file left in the past;
    start(..., failpoints=...) arms failpoints. Calling it again restarts
    the service on the same state and clock with the new options."""
    state = str(tmp_path)
    clock = sh.Clock(os.path.join(state, "clock"))
    clock.start_in_the_past()
    running = []

    def start(failpoints=None, **sections):
        for api in running:
            api.stop()
        api = fixtures.APIServer(state, fixtures.sqlite_url(state),
                                 extra_conf=sh.scheduler_conf(
                                     clock, failpoints=failpoints, **sections))
        if not running:
            api.manage("db", "sync")
        api.clock = clock
        running.append(api.start())
        return api

    yield start
    for api in running:
        api.stop()


def _policy_on(api, server_id, **retention):
    policy = sh.create_policy(api, TOKEN, interval_minutes=60,
                              **(retention or {"keep_last": 5}))
    sh.attach(api, TOKEN, server_id, policy["id"])
    return policy["id"]


def _post_snapshot(api, server_id, headers=None, **fields):
    return api.request("POST", h.snapshot_path(server_id), token=TOKEN,
                       headers=headers, json={"snapshot": dict(
                           {"name": h.unique("user-")}, **fields)})


def test_the_scheduler_s_take_waits_for_the_user_s_revert_then_runs(service):
    api = service(fake={"task_delay": TASK_DELAY})
    server = h.adopt(api, prefix="slow-")["id"]
    s0 = h.available_snapshot(api, server, TOKEN)
    s1 = h.available_snapshot(api, server, TOKEN)
    policy = _policy_on(api, server)

    h.ok(h.revert(api, server, s0["id"], TOKEN), 202)
    h.wait_task(api, server, "reverting", TOKEN)
    due = api.clock.set(sh.future_base())
    (take,) = api.wait_for(
        lambda: sh.policy_snapshots(api, TOKEN, server, policy), timeout=WAIT,
        what="the scheduler's take to be recorded")
    view = sh.server_v12(api, TOKEN, server)
    assert view["task_state"] == "reverting", view
    assert take["status"] == "queued", take
    assert sh.parse_time(take["scheduled_at"]) == due
    assert [(q["action"], q["snapshot_id"], q["origin"])
            for q in view["queued"]] == [
        ("create_snapshot", take["id"], "scheduler")]

    # The user's plain request still meets the busy server at once.
    h.assert_fault(_post_snapshot(api, server), 409)
    h.assert_fault(_post_snapshot(api, server, V1_1, queue=True), 400,
                   "queue", "1.2")
    resp = _post_snapshot(api, server, sh.V1_2, queue=True)
    mine = h.ok(resp, 202)["snapshot"]
    assert mine["status"] == "queued" and mine["policy_id"] is None
    dropped = h.ok(_post_snapshot(api, server, sh.V1_2, queue=True),
                   202)["snapshot"]
    waiting = sh.server_v12(api, TOKEN, server)["queued"]
    assert [q["snapshot_id"] for q in waiting] == [take["id"], mine["id"],
                                                   dropped["id"]]
    # A queued snapshot deleted before its turn goes at once, with its place.
    h.ok(api.request("DELETE", h.snapshot_path(server, dropped["id"]),
                     token=TOKEN), 202)
    h.assert_fault(api.request("GET", h.snapshot_path(server, dropped["id"]),
                               token=TOKEN), 404)
    still_busy = sh.server_v12(api, TOKEN, server)
    assert still_busy["task_state"] is not None
    assert [q["snapshot_id"] for q in still_busy["queued"]][-1] == mine["id"]
    assert dropped["id"] not in [q["snapshot_id"]
                                 for q in still_busy["queued"]]

    found = sh.wait_round(api, TOKEN, policy, server, due,
                          timeout=WAIT + 3 * TASK_DELAY)
    assert found["outcome"]["taken"] == take["id"]
    snaps = {s["id"]: s for s in sh.snapshots_v12(api, TOKEN, server)}
    assert set(snaps) == {s0["id"], s1["id"], take["id"], mine["id"]}
    assert all(s["status"] == "available" for s in snaps.values()), snaps
    # Taken after the revert (on S0, where the revert left the server), and
    # the user's queued one after the scheduler's.
    assert snaps[take["id"]]["parent_id"] == s0["id"]
    assert snaps[mine["id"]]["parent_id"] == take["id"]
    assert snaps[mine["id"]]["is_current"]
    assert (sh.parse_time(snaps[take["id"]]["updated_at"])
            < sh.parse_time(snaps[mine["id"]]["updated_at"]))
    assert snaps[take["id"]]["policy_id"] == policy
    assert snaps[mine["id"]]["policy_id"] is None
    assert h.db_query(api, "SELECT id FROM queued_requests") == []


def test_a_take_below_min_free_percent_is_skipped_and_says_why(service):
    api = service(fake={"free_percent": 5},
                  scheduler={"min_free_percent": 10})
    server = h.adopt(api)["id"]
    policy = _policy_on(api, server)

    due = api.clock.set(sh.future_base())
    found = sh.wait_ran(api, TOKEN, policy, server, due, timeout=WAIT)

    outcome = found["outcome"]
    assert outcome["taken"] is None and outcome["error"] is None, outcome
    (skip,) = outcome["skipped"]
    assert skip["snapshot_id"] is None
    for words in ("the fake's storage", "5.0 % free",
                  "[scheduler] min_free_percent 10"):
        assert words in skip["reason"], skip
    # Skipped for this slot: the next run is the next slot, not the next
    # second, and nothing is taken meanwhile.
    assert sh.parse_time(found["next_run"]) == due + datetime.timedelta(
        hours=1)
    assert sh.still(lambda: sh.snapshots_v12(api, TOKEN, server) == [], 1.0)
    assert h.db_query(api, "SELECT id FROM queued_requests") == []
    assert h.get_server(api, server, TOKEN)["task_state"] is None


def test_a_failed_delete_leaves_the_server_free_and_is_retried(service):
    name = "manager.delete.before_driver"
    api = service(failpoints=f"{name}=error",
                  scheduler={"delete_retry_interval": 1})
    api.clock.set(sh.future_base())
    server = h.adopt(api)["id"]
    snap = h.available_snapshot(api, server, TOKEN)["id"]

    h.ok(api.request("DELETE", h.snapshot_path(server, snap), token=TOKEN),
         202)
    # The next run sees it and schedules the first retry [scheduler]
    # delete_retry_interval (1 s) later on the scheduler's clock; that one
    # fails again (the failpoint fires at every delete) and sets the next
    # 2 s later: no third attempt while the clock stands.
    api.wait_for(lambda: f"Snapshot {snap} was left error_deleting"
                 in api.read_log(), timeout=WAIT, what="the failure seen")
    assert f"Failpoint {name} fired (error, hit 2)" not in api.read_log()
    api.clock.advance(seconds=1)
    api.wait_for(lambda: f"Failpoint {name} fired (error, hit 2)"
                 in api.read_log(), timeout=WAIT, what="the first retry")
    assert f"Deleting snapshot {snap} again (attempt 1 of 10" in api.read_log()

    def left():
        shown = h.get_snapshot(api, server, snap, TOKEN)
        return (shown["status"] == "error_deleting"
                and h.get_server(api, server, TOKEN)["task_state"] is None)
    api.wait_for(left, timeout=WAIT, what="the retry to fail")
    assert sh.still(left, 1.0)
    shown = h.get_snapshot(api, server, snap, TOKEN)
    assert name in shown["fault"]["message"], shown
    # The server is not locked by the failed delete: it takes new work.
    other = h.available_snapshot(api, server, TOKEN)
    assert h.db_query(api, "SELECT delete_attempts FROM snapshots WHERE "
                           "id = :id", id=snap) == [(1,)]

    api = service(scheduler={"delete_retry_interval": 1})  # no failpoint
    api.clock.advance(seconds=2)
    api.wait_for(lambda: api.request("GET", h.snapshot_path(server, snap),
                                     token=TOKEN).status_code == 404,
                 timeout=WAIT, what="the retry to delete the snapshot")
    assert f"Deleting snapshot {snap} again (attempt 2 of 10" in api.read_log()
    assert [s["id"] for s in sh.snapshots_v12(api, TOKEN, server)] == [
        other["id"]]
    assert h.wait_idle(api, server, TOKEN)["fault"] is None

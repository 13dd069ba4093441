"""The service killed (SIGKILL, by a failpoint) during a snapshot policy's
scheduled take and during its prune, then started again without the
failpoint after the scheduler's clock moved five hours on (fake driver,
sqlite; docs/scheduler.md, docs/reliability.md).

Each case runs an hourly policy with ``keep_last 2`` on a fake server for
``rounds`` slots, then arms its failpoint on the next slot:

- ``scheduler.take.before_request``: the take is decided, nothing recorded;
- ``manager.create.before_driver``: the take's snapshot is recorded
  ``creating`` and the server locked, the driver has not run;
- ``scheduler.prune.before_delete``: the prune of the third take is planned
  (it removes the first), none of its deletes is requested;
- ``manager.delete.before_driver``: that prune's delete is recorded
  ``deleting`` and the server locked, the driver has not run.

After the restart: the five missed slots are caught up by exactly one take
(for the latest slot: one "took" in the log, one snapshot newer than the
crash's slot, and the retention, which would keep two of the missed slots'
snapshots had it taken one per slot, keeps only that one), nothing is left
``queued``/``creating``/``deleting`` or ``error``, no queued request waits,
the server holds no task lock, the retention holds (the two newest slots),
and the policy's next run is after the clock.
"""

import datetime
import os

import pytest

from tests import fixtures
from tests.functional import helpers as h
from tests.functional import scheduler_helpers as sh

TOKEN = h.ALICE
HOUR = datetime.timedelta(hours=1)
MISSED_HOURS = 5
WAIT = 30  # bound of every wait on the service

# case: (failpoint armed for the crash, rounds run before the crashing one,
#        what the database holds at the crash: the statuses of the
#        snapshots, the server's task_state)
CASES = {
    "take_before_request": ("scheduler.take.before_request=crash@1", 0,
                            ([], None)),
    "create_before_driver": ("manager.create.before_driver=crash@1", 0,
                             (["creating"], "snapshotting")),
    # With keep_last 2 the first prune that removes something is the third.
    "prune_before_delete": ("scheduler.prune.before_delete=crash@3", 2,
                            (["available"] * 3, None)),
    "delete_before_driver": ("manager.delete.before_driver=crash@1", 2,
                             (["available", "available", "deleting"],
                              "deleting_snapshot")),
}


def _service(state, clock, failpoint=None):
    return fixtures.APIServer(state, fixtures.sqlite_url(state),
                              extra_conf=sh.scheduler_conf(
                                  clock, failpoints=failpoint,
                                  scheduler={"delete_retry_interval": 1}))


def _wait_killed(api, failpoint):
    name = failpoint.partition("=")[0]
    try:
        code = api.proc.wait(WAIT)
    except Exception:
        api.kill()
        raise AssertionError(f"nativesnap-api did not die at {name}; log:\n"
                             f"{api.read_log()[-3000:]}") from None
    assert code == -9, (code, api.read_log()[-3000:])
    assert f"Failpoint {name} fired" in api.read_log()


def _db_leftovers(api):
    """Snapshots in flight or failed, queued requests, locked servers."""
    return (h.db_query(api, "SELECT id, status FROM snapshots WHERE status "
                            "IN ('queued', 'creating', 'deleting', 'error', "
                            "'error_deleting')"),
            h.db_query(api, "SELECT id, action FROM queued_requests"),
            h.db_query(api, "SELECT id, task_state FROM servers WHERE "
                            "task_state IS NOT NULL OR task_id IS NOT NULL"))


def _db_state(api, server_id):
    """(sorted statuses of the server's snapshots, its task_state)."""
    statuses = sorted(row[0] for row in h.db_query(
        api, "SELECT status FROM snapshots WHERE server_id = :s", s=server_id))
    ((task_state,),) = h.db_query(
        api, "SELECT task_state FROM servers WHERE id = :s", s=server_id)
    return statuses, task_state


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_crash_in_a_scheduled_take_or_prune_is_caught_up_by_one_run(
        case, tmp_path):
    failpoint, rounds, at_crash = CASES[case]
    state = str(tmp_path)
    clock = sh.Clock(os.path.join(state, "clock"))
    clock.start_in_the_past()
    api = _service(state, clock, failpoint)
    api.manage("db", "sync")
    api.start()
    try:
        server = h.adopt(api)["id"]
        policy = sh.create_policy(api, TOKEN, interval_minutes=60,
                                  keep_last=2)["id"]
        sh.attach(api, TOKEN, server, policy)
        base = sh.future_base()
        for index in range(rounds):
            sh.wait_round(api, TOKEN, policy, server,
                          clock.set(base + index * HOUR))
        crash_slot = clock.set(base + rounds * HOUR)
        _wait_killed(api, failpoint)
    finally:
        api.kill()
    assert _db_state(api, server) == at_crash

    restarted_at = clock.advance(hours=MISSED_HOURS)  # while it is down
    api = _service(state, clock)
    log_offset = len(api.read_log())
    api.start()
    try:
        found = sh.wait_round(api, TOKEN, policy, server, restarted_at,
                              timeout=WAIT)
        # keep_last 2: the catch-up's snapshot and, when the crash came
        # after its take (in the prune), the crash slot's.
        expected = ([crash_slot] if rounds else []) + [restarted_at]
        # A delete the crash cut is error_deleting after the restart; it is
        # deleted again [scheduler] delete_retry_interval (1 s) after the
        # scheduler saw it.
        api.wait_for(lambda: h.db_query(
            api, "SELECT id FROM snapshots WHERE status = 'error_deleting' "
                 "AND retry_at IS NULL") == [],
            timeout=WAIT, what="the scheduler to see a failed delete")
        clock.advance(seconds=2)
        # The prune after the catch-up removes what the retention lets go.
        api.wait_for(lambda: len(sh.policy_snapshots(
            api, TOKEN, server, policy)) == len(expected)
            and not any(_db_leftovers(api)),
            timeout=WAIT, what="the prune after the catch-up")

        assert len(sh.takes_logged(api, policy, log_offset)) == 1, \
            api.read_log()[log_offset:][-4000:]
        taken = sh.policy_snapshots(api, TOKEN, server, policy)
        slots = [sh.parse_time(s["scheduled_at"]) for s in taken]
        assert sorted(slots) == expected
        assert all(s["status"] == "available" for s in taken), taken
        assert found["outcome"]["taken"] in {s["id"] for s in taken}
        assert found["outcome"]["error"] is None, found["outcome"]
        assert _db_leftovers(api) == ([], [], [])
        view = sh.server_v12(api, TOKEN, server)
        assert view["task_state"] is None and view["queued"] == []
        assert sh.parse_time(found["next_run"]) == restarted_at + HOUR
        assert sh.parse_time(found["next_run"]) > clock.now
        # The clock stays: later runs take nothing more.
        assert sh.still(lambda: len(sh.takes_logged(api, policy,
                                                    log_offset)) == 1, 1.0)
        assert len(sh.policy_snapshots(api, TOKEN, server,
                                       policy)) == len(expected)
    finally:
        api.stop()

"""The scheduler over simulated days: it takes what is due, once per
missed run, and prunes exactly what the retention rules say, never a
snapshot a person took (docs/scheduler.md)."""

import datetime

from nativesnap.common import states
from nativesnap.objects import snapshot as snapshot_obj

UTC = datetime.timezone.utc


def _policy_snapshots(env, server, policy):
    return sorted((s for s in snapshot_obj.ServerSnapshotList.get_all(
        env.admin, server_id=server.id) if s.policy_id == policy.id),
        key=lambda s: s.scheduled_at)


def _expected_slots(slots, keep_last=0, keep_daily=0, keep_weekly=0):
    """An independent reading of the retention rules: newest first, each
    rule keeps the newest slot of each of its n newest periods that no
    earlier rule's kept slot covers; a period's older slots are spent."""
    newest_first = sorted(slots, reverse=True)
    kept, spent = {}, set()
    rules = [("keep_last", keep_last, lambda t: t),
             ("keep_daily", keep_daily, lambda t: t.date()),
             ("keep_weekly", keep_weekly, lambda t: t.isocalendar()[:2])]
    for rule, count, period in rules:
        if not count:
            continue
        covered = {period(t) for t in kept}
        chosen = set()
        for t in newest_first:
            if t in kept or t in spent or period(t) in covered:
                continue
            if period(t) in chosen:
                spent.add(t)
                continue
            if len(chosen) == count:
                break
            chosen.add(period(t))
            kept[t] = rule
    return kept


def test_hourly_keep_last_3_daily_2_over_30_hours_keeps_the_hand_computed_four(
        scheduler_env):
    env = scheduler_env
    server = env.adopt()
    policy = env.policy(interval_minutes=60, keep_last=3, keep_daily=2)
    env.attach(server, policy)
    for _hour in range(30):
        env.run()
        env.clock.advance(hours=1)
    env.run()  # the 31st run takes h30 and prunes what h29 left
    start = datetime.datetime(2026, 1, 5, tzinfo=UTC)
    slots = [s.scheduled_at for s in _policy_snapshots(env, server, policy)]
    # Hours 0..30 taken. keep_last: h30, h29, h28 (all on 6 January);
    # keep_daily 2: 6 January is covered, so 5 January's newest, h23; no
    # third day exists. Everything else is pruned.
    assert slots == [start + datetime.timedelta(hours=h)
                     for h in (23, 28, 29, 30)]
    outcome = env.attachment(policy, server).outcome
    assert {k["rule"] for k in outcome["kept"]} == {"keep_last", "keep_daily"}


def test_60_days_hourly_leave_what_the_rules_name_and_never_a_manual_snapshot(
        scheduler_env):
    env = scheduler_env
    server = env.adopt()
    manual = env.create(server.id, name="by hand")
    policy = env.policy(interval_minutes=60, keep_last=3, keep_daily=7,
                        keep_weekly=4)
    env.attach(server, policy)
    taken = []
    for _hour in range(60 * 24):
        taken.append(env.clock.now)
        env.run()
        env.clock.advance(hours=1)
    env.run()
    taken.append(env.clock.now)
    left = _policy_snapshots(env, server, policy)
    assert all(s.status == states.AVAILABLE for s in left)
    expected = _expected_slots(taken, keep_last=3, keep_daily=7, keep_weekly=4)
    assert {s.scheduled_at for s in left} == set(expected)
    assert len(left) == 3 + 7 + 4
    assert env.snapshot(manual.id).status == states.AVAILABLE
    assert env.server(server.id).task_state is None


def test_a_service_down_for_ten_slots_takes_once_when_back(scheduler_env):
    env = scheduler_env
    server = env.adopt()
    policy = env.policy(interval_minutes=60, keep_last=24)
    env.attach(server, policy)
    env.run()
    env.clock.advance(hours=10, minutes=30)
    env.run()
    env.run()  # at the same time: nothing more is due
    slots = [s.scheduled_at for s in _policy_snapshots(env, server, policy)]
    start = datetime.datetime(2026, 1, 5, tzinfo=UTC)
    assert slots == [start, start + datetime.timedelta(hours=10)]
    attachment = env.attachment(policy, server)
    assert attachment.next_run_at == start + datetime.timedelta(hours=11)

"""What keeps the scheduler from harm: the storage guard, quotas (a take
over quota prunes first when its retention allows), failed deletes retried
with back-off without locking the server, and snapshots it must never
prune (docs/scheduler.md)."""

import datetime

from nativesnap.common import failpoints
from nativesnap.common import states
from nativesnap.db import api as db
from nativesnap import exception
from nativesnap.objects import quota
from nativesnap.objects import snapshot as snapshot_obj
import pytest


def _taken(env, server, policy):
    return [s for s in snapshot_obj.ServerSnapshotList.get_all(
        env.admin, server_id=server.id) if s.policy_id == policy.id]


def test_a_take_below_min_free_percent_is_skipped_naming_the_storage(
        scheduler_env, config):
    env = scheduler_env
    config("free_percent", 4.5, group="fake")
    server = env.adopt()
    policy = env.policy(interval_minutes=60, keep_last=2)
    env.attach(server, policy)
    env.run()
    assert _taken(env, server, policy) == []
    outcome = env.attachment(policy, server).outcome
    assert outcome["taken"] is None
    [skip] = outcome["skipped"]
    assert "4.5 % free" in skip["reason"]
    assert "[scheduler] min_free_percent 10" in skip["reason"]
    # The next slot is still scheduled; with room, it is taken.
    config("free_percent", 50.0, group="fake")
    env.clock.advance(hours=1)
    env.run()
    assert len(_taken(env, server, policy)) == 1


def test_a_take_over_quota_prunes_first_when_retention_lets_go(scheduler_env):
    env = scheduler_env
    server = env.adopt()
    manual = env.create(server.id, name="by hand")
    quota.set_limits(env.admin, "p1", {"snapshots_per_server": 3})
    policy = env.policy(interval_minutes=60, keep_last=2)
    env.attach(server, policy)
    for _hour in range(4):
        env.run()
        env.clock.advance(hours=1)
    taken = sorted(_taken(env, server, policy), key=lambda s: s.scheduled_at)
    start = datetime.datetime(2026, 1, 5, tzinfo=datetime.timezone.utc)
    assert [s.scheduled_at for s in taken] == [
        start + datetime.timedelta(hours=2), start + datetime.timedelta(hours=3)]
    assert env.snapshot(manual.id).status == states.AVAILABLE
    assert env.attachment(policy, server).outcome["taken"] == taken[-1].id


def test_a_take_over_quota_with_nothing_to_let_go_is_skipped_with_the_limit(
        scheduler_env):
    env = scheduler_env
    server = env.adopt()
    env.create(server.id, name="one")
    env.create(server.id, name="two")
    quota.set_limits(env.admin, "p1", {"snapshots": 2})
    policy = env.policy(interval_minutes=60, keep_last=5)
    env.attach(server, policy)
    env.run()
    assert _taken(env, server, policy) == []
    [skip] = env.attachment(policy, server).outcome["skipped"]
    assert "Quota exceeded for snapshots" in skip["reason"]
    assert "2 of 2" in skip["reason"]


def test_a_users_snapshot_over_quota_is_refused_with_403_and_records_nothing(
        scheduler_env):
    env = scheduler_env
    server = env.adopt()
    env.create(server.id, name="one")
    quota.set_limits(env.admin, "p1", {"snapshots_per_server": 1})
    with pytest.raises(exception.QuotaExceeded) as info:
        env.manager.create_snapshot(env.context, env.server(server.id), "two")
    assert info.value.code == 403
    assert "snapshots_per_server" in str(info.value)
    assert [s.name for s in env.snapshots(server.id)] == ["one"]


def test_snapshots_with_a_linked_clone_and_the_current_one_are_never_pruned(
        scheduler_env):
    env = scheduler_env
    server = env.adopt()
    policy = env.policy(interval_minutes=60, keep_last=1)
    env.attach(server, policy)
    env.run()
    [first] = _taken(env, server, policy)
    clone = env.manager.spawn_server(env.context, env.snapshot(first.id),
                                     "clone", linked=True, power_on=True)
    env.wait_idle(clone.id)
    for _hour in range(3):
        env.clock.advance(hours=1)
        env.run()
    left = {s.id for s in _taken(env, server, policy)}
    assert first.id in left and len(left) == 2
    skipped = env.attachment(policy, server).outcome["skipped"]
    assert any(s["snapshot_id"] == first.id and clone.id in s["reason"]
               for s in skipped)


def test_a_failed_delete_is_retried_with_back_off_and_never_locks_the_server(
        scheduler_env, config):
    env = scheduler_env
    config("delete_retry_interval", 60, group="scheduler")
    server = env.adopt()
    snap = env.create(server.id, name="s1")
    failpoints.configure(["manager.delete.before_driver=error"])
    try:
        env.manager.delete_snapshot(env.context, env.server(server.id), snap)
        env.wait_idle(server.id)
        assert env.snapshot(snap.id).status == states.ERROR_DELETING
        assert env.server(server.id).task_state is None
        # Seen first: the first retry comes an interval later.
        env.compute.scheduler.retry_deletes(env.admin)
        seen = env.snapshot(snap.id)
        assert (seen.delete_attempts, seen.retry_at) == (
            0, env.clock.now + datetime.timedelta(seconds=60))
        env.clock.advance(seconds=59)
        env.compute.scheduler.retry_deletes(env.admin)  # not due yet
        assert env.snapshot(snap.id).retry_at == seen.retry_at
        env.clock.advance(seconds=1)
        env.compute.scheduler.retry_deletes(env.admin)
        env.settle()
        failed = env.snapshot(snap.id)
        assert (failed.status, failed.delete_attempts) == (
            states.ERROR_DELETING, 1)
        assert failed.retry_at == env.clock.now + datetime.timedelta(
            seconds=120)
        assert env.server(server.id).task_state is None
    finally:
        failpoints.configure([])
    env.clock.advance(seconds=120)
    env.compute.scheduler.retry_deletes(env.admin)
    env.settle()
    with pytest.raises(exception.SnapshotNotFound):
        env.snapshot(snap.id)
    assert env.server(server.id).task_state is None


def test_a_disabled_policy_takes_nothing(scheduler_env):
    env = scheduler_env
    server = env.adopt()
    policy = env.policy(interval_minutes=60, keep_last=2, enabled=False)
    env.attach(server, policy)
    env.run()
    assert _taken(env, server, policy) == []
    assert db.server_get(env.admin, server.id)["task_state"] is None

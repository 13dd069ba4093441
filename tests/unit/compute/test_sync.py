"""The compute service keeps the records true to the hypervisor, so that the
API answers from them: a state change the driver reports as an event is
recorded at once, one nobody reported within the sync interval; attached
volumes likewise. A task's lock is never overwritten by a sync."""

import time

import pytest

from nativesnap.common import states
from nativesnap import exception
from nativesnap.objects import volume_attachment as attachment_obj
from tests.unit.compute.conftest import WAIT


def wait_for_status(env, server_id, status, within):
    deadline = time.monotonic() + within
    while True:
        if env.server(server_id).status == status:
            return time.monotonic()
        assert time.monotonic() < deadline, (
            f"server {server_id} not {status} within {within} s")
        time.sleep(0.02)


def test_a_state_change_reported_as_an_event_is_recorded_at_once(env):
    server = env.adopt("vm-1")  # this env's sync interval is 0: events only
    env.driver.set_status("vm-1", states.SHUTOFF)
    wait_for_status(env, server.id, states.SHUTOFF, within=WAIT)
    env.driver.set_status("vm-1", states.PAUSED)
    wait_for_status(env, server.id, states.PAUSED, within=WAIT)


def test_a_silent_state_change_is_recorded_within_the_sync_interval(env):
    synced = env.restart(sync_interval=1)
    server = synced.adopt("vm-1")
    changed = time.monotonic()
    synced.driver.set_status("vm-1", states.SHUTOFF, report=False)
    seen = wait_for_status(synced, server.id, states.SHUTOFF, within=3)
    assert seen - changed < 3


def test_a_silent_change_is_never_recorded_without_a_sync(env):
    server = env.adopt("vm-1")
    env.driver.set_status("vm-1", states.SHUTOFF, report=False)
    time.sleep(1.5)  # two wait checks of the periodic loop went by
    assert env.server(server.id).status == states.ACTIVE


def test_attached_volumes_are_recorded_when_reported_and_at_adoption(env):
    volume_id = "6f4d1b2e-3c5a-4e7f-9a0b-1c2d3e4f5a6b"
    server = env.adopt(f"volumes-{volume_id}")  # attached before adoption
    recorded = attachment_obj.VolumeAttachmentList.get_by_volume(env.context,
                                                                volume_id)
    assert [(a.server_id, a.device) for a in recorded] == [(server.id, "vdb")]
    other = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    env.driver.attach_volume(f"volumes-{volume_id}", other, target="vdc")
    deadline = time.monotonic() + WAIT
    while not attachment_obj.VolumeAttachmentList.get_by_volume(env.context,
                                                                other):
        assert time.monotonic() < deadline, "the attachment was not recorded"
        time.sleep(0.02)
    assert {a.volume_id: a.device for a in
            attachment_obj.VolumeAttachmentList.get_by_server(
                env.context, server.id)} == {volume_id: "vdb", other: "vdc"}


def test_a_sync_leaves_the_status_of_a_server_with_a_task_to_the_task(env):
    server = env.adopt("slow-vm")
    env.manager.create_snapshot(env.context, env.server(server.id), "s")
    env.driver.set_status("slow-vm", states.PAUSED)  # e.g. a memory save
    time.sleep(0.3)
    assert env.server(server.id).status == states.ACTIVE
    env.wait_idle(server.id)


def test_a_snapshot_the_hypervisor_no_longer_holds_is_marked_error_saying_so(
        env):
    server = env.adopt("vm-1")
    kept = env.create(server.id, "kept")
    lost = env.create(server.id, "lost")
    env.driver.drop_snapshot("vm-1", lost.id)  # removed outside nativesnap
    env.compute.sync_server(env.context, env.server(server.id))
    after = env.snapshot(lost.id)
    assert after.status == states.ERROR
    assert (f"Snapshot {lost.id} (lost) is no longer on the hypervisor: it was "
            "removed outside nativesnap") in after.fault["message"]
    assert env.snapshot(kept.id).status == states.AVAILABLE
    # It can be deleted here too (the fake has nothing left to remove).
    env.manager.delete_snapshot(env.context, env.server(server.id), after)
    env.wait_idle(server.id)
    assert [s.id for s in env.snapshots(server.id)] == [kept.id]


def test_a_driver_that_cannot_start_shows_its_servers_error_until_it_starts(
        env, monkeypatch):
    server = env.adopt("vm-1")
    refusal = exception.DriverError(driver="fake", verb="log in",
                                    reason="the password was refused")

    def refuse(host):
        raise refusal

    monkeypatch.setattr(env.driver, "init_host", refuse)
    env.compute.init_host(env.context)  # does not raise: the service runs on
    shown = env.server(server.id)
    assert shown.status == states.SERVER_ERROR
    assert shown.fault["code"] == 503
    assert "could not start: The fake driver failed to log in: the password " \
           "was refused" in shown.fault["message"]
    with pytest.raises(exception.DriverUnavailable) as info:
        env.manager.create_snapshot(env.context, env.server(server.id), "s")
    assert info.value.code == 503 and "password was refused" in str(info.value)
    assert env.snapshots(server.id) == []

    monkeypatch.undo()  # the operator fixed it: the next sync starts it
    env.compute.sync_servers(env.context)
    back = env.server(server.id)
    assert (back.status, back.fault) == (states.ACTIVE, None)
    assert env.create(server.id, "after").status == states.AVAILABLE


def test_capabilities_follow_what_the_driver_says_of_the_server(env, monkeypatch):
    server = env.adopt("vm-1")
    assert env.server(server.id).capabilities["memory"] is True
    monkeypatch.setattr(env.driver, "get_capabilities",
                        lambda srv: dict(env.driver.capabilities, memory=False))
    env.compute.sync_server(env.context, env.server(server.id))
    assert env.server(server.id).capabilities["memory"] is False

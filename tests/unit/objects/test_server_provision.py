"""A bare-metal server's provision state moves with its task lock, in the
same compare-and-swap saves (docs/baremetal.md): start, wait, resume, end;
a wait ended by its deadline or by the user goes straight to failed; other
drivers' servers have none and nothing moves. A record created with a task
(a spawn's) holds its lock from its insert."""

from oslo_utils import uuidutils
import pytest

from nativesnap.common import states
from nativesnap import context as ns_context
from nativesnap import exception
from nativesnap.objects import server as server_obj


def _server(provision_state):
    server = server_obj.Server(ns_context.get_admin_context())
    server.name = "metal"
    server.project_id = "p"
    server.driver = "baremetal"
    server.hypervisor_ref = uuidutils.generate_uuid()
    server.host = "h"
    server.status = states.ACTIVE
    server.origin = states.ADOPTED
    server.provision_state = provision_state
    server.create()
    return server


def _read(server):
    return server_obj.Server.get_by_id(server._context, server.id)


def test_a_snapshot_walks_the_specs_states_with_its_lock(database):
    server = _server(states.PROVISION_ACTIVE)
    task = uuidutils.generate_uuid()
    server.begin_task(states.SNAPSHOTTING, task)
    assert _read(server).provision_state == "snapshotting"
    server.wait_task(states.SNAPSHOTTING, task, server.task_started_at, {})
    assert _read(server).provision_state == "snapshot wait"
    server.resume_task(task)
    assert _read(server).provision_state == "snapshotting"
    server.end_task(states.SNAPSHOTTING, task,
                    provision_event=states.PROVISION_DONE)
    assert _read(server).provision_state == "active"


@pytest.mark.parametrize("event,expected", [
    (states.PROVISION_FAIL, "snapshot failed"),
    (states.PROVISION_ABORT, "snapshot failed")])
def test_a_wait_ended_by_deadline_or_abort_goes_straight_to_failed(
        database, event, expected):
    server = _server(states.PROVISION_ACTIVE)
    task = uuidutils.generate_uuid()
    server.begin_task(states.SNAPSHOTTING, task)
    server.wait_task(states.SNAPSHOTTING, task, server.task_started_at, {})
    server.resume_task(task, provision_event=event)
    server.end_task(states.SNAPSHOTTING, task,
                    provision_event=states.PROVISION_FAIL)
    assert _read(server).provision_state == expected


def test_a_new_snapshot_while_one_failed_is_refused_and_nothing_is_saved(
        database):
    server = _server(states.PROVISION_SNAPSHOT_FAILED)
    with pytest.raises(exception.InvalidProvisionTransition):
        server.begin_task(states.SNAPSHOTTING, uuidutils.generate_uuid())
    stored = _read(server)
    assert stored.task_state is None
    assert stored.provision_state == "snapshot failed"


def test_a_restore_after_a_failed_deploy_is_its_retry(database):
    server = _server(states.PROVISION_DEPLOY_FAILED)
    server.begin_task(states.REVERTING, uuidutils.generate_uuid())
    assert _read(server).provision_state == "deploying"


def test_tasks_without_a_provision_event_leave_it_alone(database):
    server = _server(states.PROVISION_ACTIVE)
    task = uuidutils.generate_uuid()
    server.begin_task(states.DELETING_SNAPSHOT, task)
    server.end_task(states.DELETING_SNAPSHOT, task,
                    provision_event=states.PROVISION_DONE)
    assert _read(server).provision_state == "active"


def test_servers_of_other_drivers_have_no_provision_state(database):
    server = _server(None)
    task = uuidutils.generate_uuid()
    server.begin_task(states.SNAPSHOTTING, task)
    server.end_task(states.SNAPSHOTTING, task,
                    provision_event=states.PROVISION_FAIL)
    assert _read(server).provision_state is None


def test_abort_between_tasks_needs_the_lock_free(database):
    server = _server(states.PROVISION_SNAPSHOT_FAILED)
    server.provision(states.PROVISION_ABORT)
    assert _read(server).provision_state == "active"


def test_an_abort_and_a_retry_racing_on_a_failed_snapshot_cannot_both_win(
        database):
    server = _server(states.PROVISION_SNAPSHOT_FAILED)
    racing = _read(server)
    server.provision(states.PROVISION_ABORT)
    with pytest.raises(exception.Conflict, match="moved from"):
        racing.begin_task(states.SNAPSHOTTING, uuidutils.generate_uuid(),
                          provision_event=states.PROVISION_RETRY)
    stored = _read(server)
    assert (stored.provision_state, stored.task_state) == ("active", None)


def _new(provision_state=None):
    """A Server not recorded yet (no id either)."""
    server = server_obj.Server(ns_context.get_admin_context())
    server.name = "new"
    server.project_id = "p"
    server.driver = "baremetal" if provision_state else "fake"
    server.hypervisor_ref = uuidutils.generate_uuid()
    server.host = "h"
    server.status = states.BUILD
    server.origin = states.SPAWNED
    if provision_state:
        server.provision_state = provision_state
    return server


@pytest.mark.parametrize("provision_state", [None, states.PROVISION_DEPLOYING])
def test_a_record_created_with_a_task_holds_its_lock_from_its_insert(
        database, provision_state):
    server = _new(provision_state)
    task = uuidutils.generate_uuid()
    target = uuidutils.generate_uuid()
    server.create(states.SPAWNING, task, target_id=target)
    read = _read(server)
    assert (read.task_state, read.task_id, read.task_target_id) == (
        states.SPAWNING, task, target)
    assert read.task_started_at is not None
    assert read.provision_state == provision_state  # a spawn moves none
    assert server.obj_what_changed() == set()
    # The lock is held: a save outside the task is refused, its end
    # releases it.
    read.name = "renamed"
    with pytest.raises(exception.ServerBusy):
        read.save()
    read.obj_reset_changes(["name"])
    read.end_task(states.SPAWNING, task)
    assert _read(server).task_state is None


def test_a_record_created_with_a_task_moves_its_provision_state(database):
    server = _new(states.PROVISION_ACTIVE)
    server.create(states.SNAPSHOTTING, uuidutils.generate_uuid())
    assert _read(server).provision_state == "snapshotting"

"""Lifecycle states and the state machines that are the only way to move them.

Modelled on Ironic's ``common/states.py``: the states are constants, the allowed
transitions are an automaton machine, and anything the machine does not list is
refused (``InvalidStateTransition``, a 409).
"""

from automaton import exceptions as automaton_exc
from automaton import machines

from nativesnap import exception

# --- snapshot statuses (DESIGN §3) ---------------------------------------------
QUEUED = "queued"  # a create waiting for its server's turn (docs/scheduler.md)
CREATING = "creating"
AVAILABLE = "available"
DELETING = "deleting"
ERROR = "error"
ERROR_DELETING = "error_deleting"
DELETED = "deleted"  # terminal: the row is removed once it is reached

SNAPSHOT_STATUSES = (QUEUED, CREATING, AVAILABLE, DELETING, ERROR, ERROR_DELETING)

# events
CREATE_DONE = "create_done"
CREATE_FAILED = "create_failed"
DELETE = "delete"
DELETE_DONE = "delete_done"
DELETE_FAILED = "delete_failed"
LOST = "lost"  # the hypervisor no longer holds it (removed outside nativesnap)
RETRY = "retry"  # a failed bare-metal snapshot is taken again (docs/baremetal.md)
START = "start"  # a queued create's turn came: it runs
CANCEL = "cancel"  # a queued create is deleted before it ran

# (from, event, to). error_deleting -> deleting is nativesnap's addition to the
# design's list: without it a failed delete could never be retried or cleaned up.
SNAPSHOT_TRANSITIONS = (
    (CREATING, CREATE_DONE, AVAILABLE),
    (CREATING, CREATE_FAILED, ERROR),
    (AVAILABLE, DELETE, DELETING),
    (ERROR, DELETE, DELETING),
    (ERROR_DELETING, DELETE, DELETING),
    (DELETING, DELETE_DONE, DELETED),
    (DELETING, DELETE_FAILED, ERROR_DELETING),
    (AVAILABLE, LOST, ERROR),
    (ERROR, RETRY, CREATING),
    (QUEUED, START, CREATING),
    (QUEUED, CREATE_FAILED, ERROR),
    (QUEUED, CANCEL, DELETED),
)

# --- server statuses and task states (DESIGN §2) -------------------------------
BUILD = "BUILD"
ACTIVE = "ACTIVE"
SHUTOFF = "SHUTOFF"
PAUSED = "PAUSED"
SERVER_ERROR = "ERROR"
SERVER_STATUSES = (BUILD, ACTIVE, SHUTOFF, PAUSED, SERVER_ERROR)

SNAPSHOTTING = "snapshotting"
REVERTING = "reverting"
DELETING_SNAPSHOT = "deleting_snapshot"
SPAWNING = "spawning"
EXPORTING = "exporting"
# Server deletion also holds the task lock, so nothing starts on a server that
# is being destroyed; nativesnap's addition to the design's list.
DELETING_SERVER = "deleting"
# Cinder's assisted volume snapshots no longer take the server's lock (they
# take their turn on the server, docs/cinder.md); a server that a release
# before that left locked by one is still recovered.
VOLUME_SNAPSHOTTING = "volume_snapshotting"
DELETING_VOLUME_SNAPSHOT = "volume_snapshot_deleting"
# A task whose driver waits for an event from outside (an agent's callback)
# holds the lock in its wait state, with a deadline, and no worker; it goes
# back to its running state when the event comes (docs/architecture.md).
SNAPSHOT_WAIT = "snapshot_wait"
REVERT_WAIT = "revert_wait"
DELETE_SNAPSHOT_WAIT = "delete_snapshot_wait"
SPAWN_WAIT = "spawn_wait"
EXPORT_WAIT = "export_wait"
WAIT_STATES = {SNAPSHOTTING: SNAPSHOT_WAIT, REVERTING: REVERT_WAIT,
               DELETING_SNAPSHOT: DELETE_SNAPSHOT_WAIT, SPAWNING: SPAWN_WAIT,
               EXPORTING: EXPORT_WAIT}
RUNNING_STATE_OF = {wait: running for running, wait in WAIT_STATES.items()}
TASK_STATES = (SNAPSHOTTING, REVERTING, DELETING_SNAPSHOT, SPAWNING, EXPORTING,
               DELETING_SERVER, VOLUME_SNAPSHOTTING, DELETING_VOLUME_SNAPSHOT,
               *WAIT_STATES.values())

# Task events (a task starts with the event named as its task state).
TASK_WAIT = "wait"
TASK_RESUME = "resume"
TASK_END = "end"

ADOPTED = "adopted"
SPAWNED = "spawned"
ORIGINS = (ADOPTED, SPAWNED)

# --- bare-metal provision states (docs/baremetal.md) ----------------------
# A bare-metal server's own lifecycle beside its task lock, as the Ironic
# "Snapshot support" spec draws it, shown in its view as provision_state.
PROVISION_ACTIVE = "active"
PROVISION_SNAPSHOTTING = "snapshotting"
PROVISION_SNAPSHOT_WAIT = "snapshot wait"
PROVISION_SNAPSHOT_FAILED = "snapshot failed"
# Restore and spawn redeploy a stored image: Ironic's rebuild states.
PROVISION_DEPLOYING = "deploying"
PROVISION_DEPLOY_WAIT = "wait call-back"
PROVISION_DEPLOY_FAILED = "deploy failed"
PROVISION_DELETING = "deleting"
PROVISION_DELETED = "deleted"  # terminal: the server record is removed
PROVISION_STATES = (PROVISION_ACTIVE, PROVISION_SNAPSHOTTING,
                    PROVISION_SNAPSHOT_WAIT, PROVISION_SNAPSHOT_FAILED,
                    PROVISION_DEPLOYING, PROVISION_DEPLOY_WAIT,
                    PROVISION_DEPLOY_FAILED, PROVISION_DELETING)

# events
PROVISION_SNAPSHOT = "snapshot"      # a snapshot is asked for: prepare the node
PROVISION_WAIT = "wait"              # the node boots the agent: wait for it
PROVISION_RESUME = "resume"          # the agent's heartbeat came
PROVISION_DONE = "done"
PROVISION_FAIL = "fail"              # an error, or the wait's deadline passed
PROVISION_ABORT = "abort"            # the user gives up (API action)
PROVISION_RETRY = "retry"            # the user tries again (API action)
PROVISION_REBUILD = "rebuild"        # restore: write a stored image back
PROVISION_UNDEPLOY = "undeploy"      # the server is deleted
PROVISION_DELETE_DONE = "delete_done"

# (from, event, to). The snapshot rows are the spec's list. The deploy rows
# (restore, spawn) are Ironic's rebuild; "active -> deleting" and the deploy
# rows' undeploy are nativesnap's additions (docs/baremetal.md).
PROVISION_TRANSITIONS = (
    (PROVISION_ACTIVE, PROVISION_SNAPSHOT, PROVISION_SNAPSHOTTING),
    (PROVISION_SNAPSHOTTING, PROVISION_WAIT, PROVISION_SNAPSHOT_WAIT),
    (PROVISION_SNAPSHOT_WAIT, PROVISION_RESUME, PROVISION_SNAPSHOTTING),
    (PROVISION_SNAPSHOTTING, PROVISION_DONE, PROVISION_ACTIVE),
    (PROVISION_SNAPSHOTTING, PROVISION_FAIL, PROVISION_SNAPSHOT_FAILED),
    (PROVISION_SNAPSHOT_WAIT, PROVISION_FAIL, PROVISION_SNAPSHOT_FAILED),
    (PROVISION_SNAPSHOT_WAIT, PROVISION_ABORT, PROVISION_SNAPSHOT_FAILED),
    (PROVISION_SNAPSHOT_FAILED, PROVISION_ABORT, PROVISION_ACTIVE),
    (PROVISION_SNAPSHOT_FAILED, PROVISION_RETRY, PROVISION_SNAPSHOTTING),
    (PROVISION_SNAPSHOT_WAIT, PROVISION_UNDEPLOY, PROVISION_DELETING),
    (PROVISION_SNAPSHOT_FAILED, PROVISION_UNDEPLOY, PROVISION_DELETING),
    (PROVISION_ACTIVE, PROVISION_REBUILD, PROVISION_DEPLOYING),
    (PROVISION_DEPLOYING, PROVISION_WAIT, PROVISION_DEPLOY_WAIT),
    (PROVISION_DEPLOY_WAIT, PROVISION_RESUME, PROVISION_DEPLOYING),
    (PROVISION_DEPLOYING, PROVISION_DONE, PROVISION_ACTIVE),
    (PROVISION_DEPLOYING, PROVISION_FAIL, PROVISION_DEPLOY_FAILED),
    (PROVISION_DEPLOY_WAIT, PROVISION_FAIL, PROVISION_DEPLOY_FAILED),
    (PROVISION_DEPLOY_WAIT, PROVISION_ABORT, PROVISION_DEPLOY_FAILED),
    (PROVISION_DEPLOY_FAILED, PROVISION_RETRY, PROVISION_DEPLOYING),
    (PROVISION_DEPLOY_WAIT, PROVISION_UNDEPLOY, PROVISION_DELETING),
    (PROVISION_DEPLOY_FAILED, PROVISION_UNDEPLOY, PROVISION_DELETING),
    (PROVISION_ACTIVE, PROVISION_UNDEPLOY, PROVISION_DELETING),
    (PROVISION_DELETING, PROVISION_DELETE_DONE, PROVISION_DELETED),
)

# The provision event a task's start fires on a bare-metal server (by the
# task's running state); a task that ends fires done or fail, a wait wait, an
# event resume (docs/baremetal.md). A retry starts a snapshot with "retry".
PROVISION_START_EVENTS = {SNAPSHOTTING: PROVISION_SNAPSHOT,
                          REVERTING: PROVISION_REBUILD}


def provision_start_event(task_state, provision_state):
    """The event a task's start fires: a restore after a failed deploy is
    its retry (deploy failed -> deploying), not a second rebuild."""
    event = PROVISION_START_EVENTS.get(task_state)
    if event == PROVISION_REBUILD and provision_state == PROVISION_DEPLOY_FAILED:
        return PROVISION_RETRY
    return event


# Where a task's wait, resume and end move the provision state from.
PROVISION_AT_WORK = (PROVISION_SNAPSHOTTING, PROVISION_DEPLOYING)
PROVISION_WAITING = (PROVISION_SNAPSHOT_WAIT, PROVISION_DEPLOY_WAIT)

# --- image statuses ----------------------------------------------------------------
IMAGE_SAVING = "saving"
IMAGE_ACTIVE = "active"
IMAGE_ERROR = "error"
IMAGE_STATUSES = (IMAGE_SAVING, IMAGE_ACTIVE, IMAGE_ERROR)

# --- assisted volume snapshot operations (Cinder's requests) ---------------------
VOLUME_OP_CREATE = "create"
VOLUME_OP_DELETE = "delete"
VOLUME_OP_ACTIONS = (VOLUME_OP_CREATE, VOLUME_OP_DELETE)
# queued: accepted, waiting for its turn on the server; running: the work goes
# on; succeeded / failed: the work ended so (and Cinder was called back);
# refused: answered 400, nothing was done.
VOLUME_OP_QUEUED = "queued"
VOLUME_OP_RUNNING = "running"
VOLUME_OP_SUCCEEDED = "succeeded"
VOLUME_OP_FAILED = "failed"
VOLUME_OP_REFUSED = "refused"
VOLUME_OP_STATUSES = (VOLUME_OP_QUEUED, VOLUME_OP_RUNNING, VOLUME_OP_SUCCEEDED,
                      VOLUME_OP_FAILED, VOLUME_OP_REFUSED)
VOLUME_OP_IN_FLIGHT = (VOLUME_OP_QUEUED, VOLUME_OP_RUNNING)

# --- snapshot properties -------------------------------------------------------
QUIESCE_REQUIRED = "required"
QUIESCE_PREFERRED = "preferred"
QUIESCE_OFF = "off"
QUIESCE_MODES = (QUIESCE_REQUIRED, QUIESCE_PREFERRED, QUIESCE_OFF)

KIND_INTERNAL = "internal"
KIND_EXTERNAL = "external"
KINDS = (KIND_INTERNAL, KIND_EXTERNAL)

CONSISTENCY_MEMORY = "memory"
CONSISTENCY_APPLICATION = "application"
CONSISTENCY_CRASH = "crash"
CONSISTENCIES = (CONSISTENCY_MEMORY, CONSISTENCY_APPLICATION, CONSISTENCY_CRASH)


def _build(transitions, terminal):
    machine = machines.FiniteMachine()
    states = {s for t in transitions for s in (t[0], t[2])}
    for state in sorted(states):
        machine.add_state(state, terminal=state in terminal)
    for src, event, dst in transitions:
        machine.add_transition(src, dst, event)
    machine.freeze()
    return machine


SNAPSHOT_MACHINE = _build(SNAPSHOT_TRANSITIONS, terminal={DELETED})
PROVISION_MACHINE = _build(PROVISION_TRANSITIONS, terminal={PROVISION_DELETED})

# A server's task lock: idle (task_state null) -> a task -> idle, with a
# wait state beside each task that may wait for an outside event.
NO_TASK = "idle"  # the machine's name for task_state null
TASK_TRANSITIONS = (
    tuple((NO_TASK, task, task) for task in TASK_STATES
          if task not in RUNNING_STATE_OF)
    + tuple((task, TASK_END, NO_TASK) for task in TASK_STATES)
    + tuple((task, TASK_WAIT, wait) for task, wait in WAIT_STATES.items())
    + tuple((wait, TASK_RESUME, task) for task, wait in WAIT_STATES.items())
)
TASK_MACHINE = _build(TASK_TRANSITIONS, terminal=())


def _next(machine, current, event):
    machine = machine.copy()
    machine.initialize(current)
    machine.process_event(event)
    return machine.current_state


def next_task_state(server_id, current, event):
    """The task_state ``event`` moves a server's lock in ``current`` (None:
    no task) to, or a 409 naming both."""
    try:
        state = _next(TASK_MACHINE, NO_TASK if current is None else current,
                      event)
    except (automaton_exc.NotFound, automaton_exc.InvalidState):
        if current is not None and event in TASK_STATES:
            raise exception.ServerBusy(server_id=server_id,
                                       task_state=current) from None
        raise exception.UnexpectedTaskState(server_id=server_id,
                                            expected=f"a state allowing "
                                                     f"'{event}'",
                                            actual=current) from None
    return None if state == NO_TASK else state


def next_snapshot_status(snapshot_id, current, event):
    """The status ``event`` moves a snapshot in ``current`` to, or a 409."""
    try:
        return _next(SNAPSHOT_MACHINE, current, event)
    except (automaton_exc.NotFound, automaton_exc.InvalidState):
        raise exception.InvalidStateTransition(
            snapshot_id=snapshot_id, state=current, event=event) from None


def next_provision_state(server_id, current, event):
    """The provision_state ``event`` moves a bare-metal server in
    ``current`` to, or a 409 naming both."""
    try:
        return _next(PROVISION_MACHINE, current, event)
    except (automaton_exc.NotFound, automaton_exc.InvalidState):
        raise exception.InvalidProvisionTransition(
            server_id=server_id, state=current, event=event) from None

"""The snapshot state machine allows exactly its listed transitions."""

import itertools

import pytest

from nativesnap.common import states
from nativesnap import exception

# DESIGN §3: creating -> available | error; available -> deleting -> (gone) |
# error_deleting; error -> deleting.
DESIGN_TRANSITIONS = {
    ("creating", "available"),
    ("creating", "error"),
    ("available", "deleting"),
    ("deleting", "deleted"),
    ("deleting", "error_deleting"),
    ("error", "deleting"),
}
# The one documented addition: a failed delete can be retried.
# docs/decisions.md: a failed delete can be retried; a snapshot the
# hypervisor no longer holds is an error.
# A failed bare-metal snapshot is taken again by retry (docs/baremetal.md).
DOCUMENTED_ADDITIONS = {("error_deleting", "deleting"), ("available", "error"),
                        ("error", "creating"),
                        # a queued create (docs/scheduler.md): its turn
                        # comes, its wait runs out, or it is deleted first
                        ("queued", "creating"), ("queued", "error"),
                        ("queued", "deleted")}

ALL_STATES = states.SNAPSHOT_STATUSES + (states.DELETED,)
ALL_EVENTS = sorted({event for _, event, _ in states.SNAPSHOT_TRANSITIONS})
ALLOWED = {(src, event): dst for src, event, dst in states.SNAPSHOT_TRANSITIONS}
REFUSED = [pair for pair in itertools.product(ALL_STATES, ALL_EVENTS)
           if pair not in ALLOWED]


def test_transitions_are_the_designs_list_plus_the_documented_additions():
    edges = [(src, dst) for src, _, dst in states.SNAPSHOT_TRANSITIONS]
    assert len(edges) == len(set(edges)), "a transition is listed twice"
    assert set(edges) == DESIGN_TRANSITIONS | DOCUMENTED_ADDITIONS


def test_every_status_and_the_terminal_deleted_appear_in_the_machine():
    assert set(states.SNAPSHOT_MACHINE.states) == set(ALL_STATES)
    assert set(states.SNAPSHOT_STATUSES) == {
        "queued", "creating", "available", "deleting", "error",
        "error_deleting"}


def test_the_automaton_holds_exactly_the_listed_transitions():
    assert set(states.SNAPSHOT_MACHINE) == set(states.SNAPSHOT_TRANSITIONS)


def test_each_state_has_one_target_per_event():
    assert len(ALLOWED) == len(states.SNAPSHOT_TRANSITIONS)


def test_deleted_is_terminal_no_transition_leaves_it():
    assert not [t for t in states.SNAPSHOT_TRANSITIONS if t[0] == states.DELETED]
    for event in ALL_EVENTS:
        with pytest.raises(exception.InvalidStateTransition):
            states.next_snapshot_status("snap-id", states.DELETED, event)


@pytest.mark.parametrize("src,event", sorted(ALLOWED), ids="-".join)
def test_listed_transition_is_allowed(src, event):
    assert states.next_snapshot_status("snap-id", src, event) == ALLOWED[(src, event)]


def test_all_state_event_pairs_are_enumerated():
    assert len(ALLOWED) + len(REFUSED) == len(ALL_STATES) * len(ALL_EVENTS)
    # 7 states, 9 events, 12 transitions
    assert len(REFUSED) == 7 * 9 - 12


@pytest.mark.parametrize("src,event", REFUSED, ids="-".join)
def test_unlisted_transition_is_refused_with_409(src, event):
    with pytest.raises(exception.InvalidStateTransition) as info:
        states.next_snapshot_status("snap-id", src, event)
    assert info.value.code == 409
    assert "snap-id" in str(info.value)
    assert src in str(info.value) and event in str(info.value)


@pytest.mark.parametrize("src,event", [
    ("available", "no_such_event"),
    ("no_such_state", states.DELETE),
    (None, states.DELETE),
])
def test_unknown_state_or_event_is_refused_with_409(src, event):
    with pytest.raises(exception.InvalidStateTransition) as info:
        states.next_snapshot_status("snap-id", src, event)
    assert info.value.code == 409


def test_the_shared_machine_is_not_moved_by_a_transition():
    states.next_snapshot_status("snap-id", states.CREATING, states.CREATE_DONE)
    with pytest.raises(exception.InvalidStateTransition):
        states.next_snapshot_status("snap-id", states.AVAILABLE,
                                    states.CREATE_DONE)
    assert states.next_snapshot_status(
        "snap-id", states.CREATING, states.CREATE_FAILED) == states.ERROR

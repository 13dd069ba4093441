"""The bare-metal provision state machine allows exactly the Ironic snapshot
spec's transitions, plus the rebuild (restore, spawn) rows and the additions
docs/baremetal.md lists; every other (state, event) is a 409."""

import itertools

import pytest

from nativesnap.common import states
from nativesnap import exception

# The Ironic "Snapshot support" spec, word for word (states as it names them).
SPEC = {
    ("active", "snapshotting"),             # prepare: boot the agent
    ("snapshotting", "snapshot wait"),      # wait for its heartbeat
    ("snapshot wait", "snapshotting"),      # stream and store
    ("snapshotting", "active"),             # done
    ("snapshotting", "snapshot failed"),    # error
    ("snapshot wait", "snapshot failed"),   # timeout, abort
    ("snapshot failed", "active"),          # abort: clean up
    ("snapshot failed", "snapshotting"),    # retry
    ("snapshot wait", "deleting"),          # undeploy
    ("snapshot failed", "deleting"),        # undeploy
}
# Restore and spawn are Ironic's rebuild: deploying, wait call-back, deploy
# failed; and the server may be deleted when active or after a failed deploy.
REBUILD = {
    ("active", "deploying"), ("deploying", "wait call-back"),
    ("wait call-back", "deploying"), ("deploying", "active"),
    ("deploying", "deploy failed"), ("wait call-back", "deploy failed"),
    ("deploy failed", "deploying"), ("wait call-back", "deleting"),
    ("deploy failed", "deleting"),
}
ADDITIONS = {("active", "deleting"), ("deleting", "deleted")}

ALL_STATES = states.PROVISION_STATES + (states.PROVISION_DELETED,)
ALL_EVENTS = sorted({event for _, event, _ in states.PROVISION_TRANSITIONS})
ALLOWED = {(src, event): dst for src, event, dst in states.PROVISION_TRANSITIONS}
REFUSED = [pair for pair in itertools.product(ALL_STATES, ALL_EVENTS)
           if pair not in ALLOWED]


def test_the_snapshot_rows_are_exactly_the_spec_s():
    snapshot_states = {"active", "snapshotting", "snapshot wait",
                       "snapshot failed", "deleting"}
    edges = {(src, dst) for src, _, dst in states.PROVISION_TRANSITIONS
             if src in snapshot_states and dst in snapshot_states
             and (src, dst) != ("active", "deleting")}
    assert edges == SPEC


def test_transitions_are_the_spec_the_rebuild_and_the_documented_additions():
    edges = [(src, dst) for src, event, dst in states.PROVISION_TRANSITIONS]
    # A wait ends in its failed state two ways, listed apart: by its deadline
    # (fail) and by the user (abort); no other edge is listed twice.
    twice = {edge for edge in edges if edges.count(edge) > 1}
    assert twice == {("snapshot wait", "snapshot failed"),
                     ("wait call-back", "deploy failed")}
    assert set(edges) == SPEC | REBUILD | ADDITIONS


def test_the_automaton_holds_exactly_the_listed_transitions():
    assert set(states.PROVISION_MACHINE) == set(states.PROVISION_TRANSITIONS)
    assert set(states.PROVISION_MACHINE.states) == set(ALL_STATES)


def test_deleted_is_terminal():
    for event in ALL_EVENTS:
        with pytest.raises(exception.InvalidProvisionTransition):
            states.next_provision_state("srv", states.PROVISION_DELETED, event)


@pytest.mark.parametrize("src,event", sorted(ALLOWED), ids="-".join)
def test_listed_transition_is_allowed(src, event):
    assert states.next_provision_state("srv", src, event) == ALLOWED[(src, event)]


@pytest.mark.parametrize("src,event", REFUSED, ids="-".join)
def test_unlisted_transition_is_refused_with_409(src, event):
    with pytest.raises(exception.InvalidProvisionTransition) as info:
        states.next_provision_state("srv", src, event)
    assert info.value.code == 409
    assert "srv" in str(info.value)
    assert src in str(info.value) and event in str(info.value)


def test_every_pair_is_either_allowed_or_refused():
    assert len(ALLOWED) == len(states.PROVISION_TRANSITIONS)
    assert len(ALLOWED) + len(REFUSED) == len(ALL_STATES) * len(ALL_EVENTS)


@pytest.mark.parametrize("src,event", [("active", "no_such_event"),
                                       ("no_such_state", "snapshot")])
def test_unknown_states_and_events_are_refused(src, event):
    with pytest.raises(exception.InvalidProvisionTransition):
        states.next_provision_state("srv", src, event)

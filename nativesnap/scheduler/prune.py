"""What a policy's retention keeps and removes of one server's snapshots
(docs/scheduler.md, "Retention").

Only the snapshots the policy took count and can go; a snapshot a person
took is never looked at. Of those, the ones that may not go are protected:
the server's current snapshot (the disks run on it), and one a linked server
reads (spawned from it or from a later snapshot of its branch). The rules count a
protected snapshot like any other (the current one is usually the newest,
which keep_last keeps); when they would remove it, it is skipped instead and
reported with why. A failed take (status error) is removed, as it holds nothing.

A pair is *settled* when none of its policy's snapshots is queued, being
taken or being deleted: the scheduler prunes only settled pairs, so a prune
never counts a snapshot that may still fail or is already going."""

import dataclasses

from nativesnap.common import states
from nativesnap.scheduler import retention

UNSETTLED = (states.QUEUED, states.CREATING, states.DELETING)


@dataclasses.dataclass
class Plan:
    """One server's prune: ``keep`` [(snapshot, rule)], ``remove``
    [snapshot], ``skip`` [(snapshot, reason)]."""
    server_id: str
    keep: list
    remove: list
    skip: list

    def as_dict(self):
        def brief(snapshot, **more):
            return dict({"snapshot_id": snapshot.id, "name": snapshot.name,
                         "scheduled_at": _slot(snapshot)}, **more)
        return {"server_id": self.server_id,
                "keep": [brief(s, rule=rule) for s, rule in self.keep],
                "remove": [brief(s) for s in self.remove],
                "skip": [{"snapshot_id": s.id, "reason": reason}
                         for s, reason in self.skip]}


def _slot(snapshot):
    return snapshot.scheduled_at or snapshot.created_at


def settled(snapshots):
    return not any(s.status in UNSETTLED for s in snapshots)


# Stands for the snapshot a take over quota is about to make.
PENDING = "~pending"


def plan(policy, server, snapshots, dependents, pending_slot=None):
    """The prune of ``snapshots`` (those ``policy`` took of ``server``).
    ``dependents``: {snapshot id: reason it must stay} for snapshots a
    linked server reads. ``pending_slot``: plan as if the take for that slot
    had been made (a take over quota makes room first)."""
    items = [retention.Item(id=PENDING, time=pending_slot)] \
        if pending_slot is not None else []
    failed = []
    for snapshot in snapshots:
        if snapshot.status == states.ERROR:
            failed.append(snapshot)
        elif snapshot.status == states.AVAILABLE:
            items.append(retention.Item(id=snapshot.id, time=_slot(snapshot)))
    by_id = {s.id: s for s in snapshots}
    chosen = retention.select(items, policy.retention, policy.timezone)
    result = Plan(server_id=server.id,
                  keep=[(by_id[item.id], rule) for item, rule in chosen.keep
                        if item.id != PENDING],
                  remove=list(failed), skip=[])
    for item in chosen.remove:
        if item.id == PENDING:
            continue
        reason = dependents.get(item.id)
        if item.id == server.current_snapshot_id:
            reason = "it is the server's current snapshot (its disks run on it)"
        if reason is None:
            result.remove.append(by_id[item.id])
        else:
            result.skip.append((by_id[item.id], reason))
    return result

"""The snapshot view (DESIGN §2), and the image view of an export."""

from nativesnap.api.views import common
from nativesnap.api.views import images as image_view


# The fields of a snapshot the view shows (lists read only these), and those
# it shows from microversion 1.2.
FIELDS = ("id", "server_id", "project_id", "name", "description", "status",
          "progress", "kind", "memory", "quiesce", "consistency", "parent_id",
          "size_bytes", "frozen_ms", "paused_ms", "volumes", "disks", "fault",
          "created_at", "updated_at")
POLICY_FIELDS = ("policy_id", "scheduled_at")


def fields(policy_fields=False):
    """The fields ``show_record`` reads, with or without ``policy_fields``."""
    return FIELDS + POLICY_FIELDS if policy_fields else FIELDS


def show(req, snapshot, current_snapshot_id, images=None, policy_fields=False):
    """The view of a ServerSnapshot object (see ``show_record``)."""
    # One dict of the fields rather than 24 property reads.
    return show_record(req, snapshot.as_dict(), current_snapshot_id, images,
                       policy_fields)


def show_record(req, s, current_snapshot_id, images=None, policy_fields=False):
    """The view of a snapshot's record ({field: value}, at least ``fields``);
    ``images``: its exported images (1.1), None for none shown;
    ``policy_fields``: show policy_id and scheduled_at (1.2)."""
    view = {
        "id": s["id"],
        "server_id": s["server_id"],
        "project_id": s["project_id"],
        "name": s["name"],
        "description": s["description"],
        "status": s["status"],
        "progress": s["progress"],
        "kind": s["kind"],
        "memory": s["memory"],
        "quiesce": s["quiesce"],
        "consistency": s["consistency"],
        "parent_id": s["parent_id"],
        "is_current": s["id"] == current_snapshot_id,
        "size_bytes": s["size_bytes"],
        "frozen_ms": s["frozen_ms"],
        "paused_ms": s["paused_ms"],
        "volumes": s["volumes"],
        "disks": s["disks"],
        "fault": s["fault"],
        "created_at": common.isotime(s["created_at"]),
        "updated_at": common.isotime(s["updated_at"]),
        "links": common.self_links(
            req, f"servers/{s['server_id']}/snapshots/{s['id']}"),
    }
    if images is not None:
        view["images"] = [image_view.summary(i) for i in images]
    if policy_fields:
        # The policy that took it (null: a person did) and the schedule
        # slot it was taken for (docs/scheduler.md).
        view["policy_id"] = s.get("policy_id")
        view["scheduled_at"] = common.isotime(s.get("scheduled_at"))
    return view

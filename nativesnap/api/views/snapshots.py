"""The snapshot view (DESIGN §2), and the image view of an export."""

from nativesnap.api.views import common
from nativesnap.api.views import images as image_view


def show(req, snapshot, current_snapshot_id, images=None):
    # One dict of the fields rather than 24 property reads: lists show 1000.
    s = snapshot.as_dict()
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
    return view

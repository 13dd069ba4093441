"""The snapshot view (DESIGN §2), and the image view of an export."""

from nativesnap.api.views import common


def image(img):
    return {
        "id": img.id,
        "name": img.name,
        "disk_format": img.disk_format,
        "status": img.status,
        "progress": img.progress,
        "size_bytes": img.size_bytes,
        "sha256": img.sha256,
        "location": img.location,
        "fault": img.fault,
        "created_at": common.isotime(img.created_at),
    }


def show(req, snapshot, current_snapshot_id, images=None):
    view = {
        "id": snapshot.id,
        "server_id": snapshot.server_id,
        "project_id": snapshot.project_id,
        "name": snapshot.name,
        "description": snapshot.description,
        "status": snapshot.status,
        "progress": snapshot.progress,
        "kind": snapshot.kind,
        "memory": snapshot.memory,
        "quiesce": snapshot.quiesce,
        "consistency": snapshot.consistency,
        "parent_id": snapshot.parent_id,
        "is_current": snapshot.id == current_snapshot_id,
        "size_bytes": snapshot.size_bytes,
        "frozen_ms": snapshot.frozen_ms,
        "paused_ms": snapshot.paused_ms,
        "volumes": snapshot.volumes,
        "disks": snapshot.disks,
        "fault": snapshot.fault,
        "created_at": common.isotime(snapshot.created_at),
        "updated_at": common.isotime(snapshot.updated_at),
        "links": common.self_links(
            req, f"servers/{snapshot.server_id}/snapshots/{snapshot.id}"),
    }
    if images is not None:
        view["images"] = [image(i) for i in images]
    return view

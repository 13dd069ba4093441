"""The view of an exported image (/v1/images, and a snapshot's exports)."""

from nativesnap.api.views import common


def show(req, img):
    view = summary(img)
    view["links"] = common.self_links(req, f"images/{img.id}")
    return view


def summary(img):
    """The image without links (in a snapshot's view)."""
    return {
        "id": img.id,
        "name": img.name,
        "project_id": img.project_id,
        "snapshot_id": img.snapshot_id,
        "server_id": img.server_id,
        "backend": img.backend,
        "disk_format": img.disk_format,
        "status": img.status,
        "progress": img.progress,
        "size_bytes": img.size_bytes,
        "sha256": img.sha256,
        "location": img.location,
        "fault": img.fault,
        # An export by clone is usable at once and flattened later (docs/rbd.md).
        "flatten_progress": img.flatten_progress,
        "fallback_reason": img.fallback_reason,
        "created_at": common.isotime(img.created_at),
        "updated_at": common.isotime(img.updated_at),
    }

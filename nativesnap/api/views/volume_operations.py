"""The view of an assisted volume snapshot operation (GET
/v1/os-assisted-volume-snapshots)."""

from nativesnap.api.views import common


def show(op):
    o = op.as_dict()
    return {
        "id": o["id"],
        "action": o["action"],
        "status": o["status"],
        "volume_id": o["volume_id"],
        "snapshot_id": o["snapshot_id"],
        "server_id": o.get("server_id"),
        "disk": o.get("disk"),
        "host": o["host"],
        "requested_by": {"user_id": o.get("user_id"),
                         "project_id": o.get("project_id"),
                         "request_id": o.get("request_id")},
        "request": o.get("request"),
        "files": o.get("files"),
        "callback": o.get("callback"),
        "started_at": common.isotime(o.get("created_at")),
        "finished_at": common.isotime(o.get("finished_at")),
        "duration_ms": o.get("duration_ms"),
        "fault": o.get("fault"),
    }

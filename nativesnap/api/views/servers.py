"""The server view (DESIGN §2)."""

from nativesnap.api.views import common
from nativesnap.objects import fields


def queued_request(request):
    return {
        "id": request.id,
        "action": request.action,
        "snapshot_id": request.snapshot_id,
        "origin": request.origin,
        "created_at": common.isotime(request.created_at),
        "expires_at": common.isotime(request.expires_at),
    }


def show(req, server, queued=None):
    """``queued``: the requests waiting for the server, oldest first, shown
    from microversion 1.2 (None: not shown)."""
    caps = server.capabilities or {}
    view = {
        "id": server.id,
        "name": server.name,
        "project_id": server.project_id,
        "driver": server.driver,
        "hypervisor_ref": server.hypervisor_ref,
        "host": server.host,
        "status": server.status,
        "task_state": server.task_state,
        "origin": server.origin,
        "source_snapshot_id": server.source_snapshot_id,
        "linked": server.linked,
        # A full spawn's disk copied in the background (docs/rbd.md): null
        # when nothing is, 0-100 while it is, 100 once the server depends on
        # no snapshot.
        "flatten_progress": server.flatten_progress,
        # A bare-metal server's provision state (docs/baremetal.md); null for
        # the servers of every other driver.
        "provision_state": server.provision_state,
        "capabilities": {name: bool(caps.get(name, False))
                         for name in fields.CAPABILITIES},
        "fault": server.fault,
        "created_at": common.isotime(server.created_at),
        "updated_at": common.isotime(server.updated_at),
        "links": common.self_links(req, f"servers/{server.id}"),
    }
    if queued is not None:
        view["queued"] = [queued_request(r) for r in queued]
    return view

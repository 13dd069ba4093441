"""The server view (DESIGN §2)."""

from nativesnap.api.views import common
from nativesnap.objects import fields


def show(req, server):
    caps = server.capabilities or {}
    return {
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

"""The view of a bare-metal node. It is built field by field from the
record and never names ``agent_token`` nor ``redfish_password``: secrets are
write-only (a test checks every answer for them)."""

from nativesnap.api.views import common


def show(req, node, server_id=None):
    return {
        "id": node.id,
        "name": node.name,
        "agent_url": node.agent_url,
        "root_device_hint": node.root_device_hint,
        "power": {
            "interface": node.power_interface,
            "address": node.redfish_address,
            "system_id": node.redfish_system_id,
            "username": node.redfish_username,
            "verify_ca": node.redfish_verify_ca,
        },
        "last_heartbeat_at": common.isotime(node.last_heartbeat_at),
        "agent_version": node.agent_version,
        # The server adopted on the node (a server of the baremetal driver
        # naming it in its hypervisor_ref), or null.
        "server_id": server_id,
        "created_at": common.isotime(node.created_at),
        "updated_at": common.isotime(node.updated_at),
        "links": common.self_links(req, f"baremetal/nodes/{node.id}"),
    }

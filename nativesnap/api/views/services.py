"""The view of a compute service: its state (up or down, from its last
heartbeat) and its status (enabled or disabled by an operator)."""

from nativesnap.api.views import common


def show(service):
    drivers = service.drivers or {}
    return {
        "id": service.id,
        "host": service.host,
        "binary": service.binary,
        "drivers": sorted(drivers),
        "host_free_drivers": sorted(name for name in drivers
                                    if service.host_free(name)),
        "state": "up" if service.is_up else "down",
        "status": "disabled" if service.disabled else "enabled",
        "disabled_reason": service.disabled_reason,
        "rpc_version": service.rpc_version,
        "last_seen_at": common.isotime(service.last_seen_at),
        "created_at": common.isotime(service.created_at),
        "updated_at": common.isotime(service.updated_at),
    }

"""The API side's view of the service registry: which compute service may
be handed a server's work, and which one adopts a new server.

A request that changes a server is refused at once, 409 naming the host,
when that server's compute service is down (no heartbeat for ``[DEFAULT]
service_down_time``) or disabled by an operator, instead of waiting for an
RPC timeout: the operator learns which host to look at, the user that the
server's records still answer (docs/deployment.md).
"""

from oslo_utils import timeutils
from tooz import hashring

from nativesnap import exception
from nativesnap.objects import service as service_obj


def ring_of(members):
    """The consistent hash ring of ``members`` (host names) that shares
    host-free servers among compute services (compute/ring.py); the API
    side uses the same one to place a new server."""
    return hashring.HashRing(members)


def owner(ring, server_id):
    """The host ``ring`` gives ``server_id``."""
    return next(iter(ring.get_nodes(server_id.encode())))


def _down_for(service):
    if service.last_seen_at is None:
        return "has never reported"
    seconds = (timeutils.utcnow(with_timezone=True)
               - service.last_seen_at).total_seconds()
    return (f"is down (its last heartbeat was {seconds:.0f} s ago, at "
            f"{service.last_seen_at.isoformat()})")


def unavailable_because(service):
    """Why ``service`` takes no work, or None when it does."""
    if not service.is_up:
        return _down_for(service)
    if service.disabled:
        return ("is disabled by an operator (reason: "
                f"{service.disabled_reason or 'none given'})")
    return None


def check(context, host):
    """Refuse (409) work for ``host`` when its service is down or disabled."""
    service = service_obj.Service.get_by_host(context, host)
    why = ("is not registered (no compute service of this host has ever "
           "started)" if service is None else unavailable_because(service))
    if why is not None:
        raise exception.ComputeHostUnavailable(host=host, why=why)


def adopting(context, driver, server_id, host=None):
    """(hosts, host_free): the hosts to ask, in turn, for a new server's
    hypervisor object — ``host`` alone when given (checked); else the
    available services that run ``driver``: for a host-free driver only the
    one the ring gives the new server, for others every one (the object
    lives on one of them) — and whether ``driver`` is host-free."""
    services = service_obj.ServiceList.get_all(context)
    running = [s for s in services if s.runs(driver)]
    host_free = any(s.host_free(driver) for s in running)
    if host is not None:
        check(context, host)
        return [host], host_free
    if not running:
        raise exception.DriverNotEnabled(
            driver=driver, enabled=", ".join(sorted(
                {d for s in services for d in (s.drivers or {})})) or "none")
    available = sorted(s.host for s in running if s.available)
    if not available:
        raise exception.NoComputeForDriver(
            driver=driver, detail=" (" + "; ".join(
                f"{s.host} {unavailable_because(s)}" for s in running) + ")")
    if host_free:
        return [owner(ring_of(available), server_id)], True
    return available, False

"""The compute service in the registry: its heartbeat, and its share of the
servers of host-free drivers.

Every compute service records itself and heartbeats every ``[DEFAULT]
report_interval`` seconds (objects.Service), on a thread of its own so that
a long status sync never makes a live service look dead.

Servers of host-free drivers (vSphere, bare metal: reached over the network,
not living on one host) are shared among the live, enabled compute services
that run the driver by a consistent hash ring of their host names (tooz's,
as Ironic shares nodes among conductors): each service computes the same
ring from the registry and takes the servers the ring gives it. A server
moves by compare-and-swap of its ``host`` (so it always has exactly one
owner): from a live service only while it holds no task; from a dead one at
once, and a task that death cut is reconciled by the new owner as start-up
recovery would (docs/deployment.md). A task that waits for an outside event
keeps waiting: its wait is recorded, and the new owner checks it.

The registry is read every second (one small query); the servers are read
when the ring's members change, and every ``report_interval`` otherwise, so
a dead service's servers move within about ``service_down_time`` + 1 s.
"""

import threading
import time

from oslo_log import log as logging

from nativesnap.common import states
from nativesnap.compute import hosts
from nativesnap.compute import recovery
from nativesnap.compute import rpcapi
from nativesnap.conf import CONF
from nativesnap.objects import server as server_obj
from nativesnap.objects import service as service_obj

LOG = logging.getLogger(__name__)

CHECK_SECONDS = 1.0
# A task cut by its compute service's death (docs/reliability.md).
HOST_DIED = "interrupted: its compute service died and another took it over"


class Membership:
    """Heartbeat and host-free servers of one compute manager."""

    def __init__(self, manager):
        self.manager = manager
        self._members = {}  # driver -> tuple of hosts at the last scan
        self._scanned_at = {}  # driver -> monotonic time of the last scan
        self._thread = None
        self._stop = threading.Event()

    def drivers(self):
        return {name: {"host_free": bool(driver.host_free)}
                for name, driver in self.manager.drivers.items()}

    def heartbeat(self, context):
        service_obj.Service.heartbeat(context, self.manager.host, self.drivers(),
                                      rpcapi.RPC_API_VERSION)

    def start(self, context):
        """Register now, then heartbeat and share on a thread of its own."""
        self.heartbeat(context)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(context,),
                                        name="nativesnap-compute-registry",
                                        daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _loop(self, context):
        next_beat = time.monotonic() + CONF.report_interval
        while not self._stop.wait(CHECK_SECONDS):
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + CONF.report_interval
                try:
                    self.heartbeat(context)
                except Exception:
                    LOG.exception("The heartbeat of host %s could not be "
                                  "recorded", self.manager.host)
            try:
                self.share(context)
            except Exception:
                LOG.exception("Sharing host-free servers failed")

    def share(self, context, force=False):
        """Take the host-free servers the ring gives this service."""
        services = service_obj.ServiceList.get_all(context)
        for name, driver in self.manager.drivers.items():
            if not driver.host_free or name in self.manager.broken_drivers:
                continue
            members = tuple(sorted(s.host for s in services
                                   if s.available and s.host_free(name)))
            if self.manager.host not in members:
                continue
            due = (time.monotonic() - self._scanned_at.get(name, 0)
                   >= CONF.report_interval)
            if not (force or due or self._members.get(name) != members):
                continue
            self._members[name] = members
            self._scanned_at[name] = time.monotonic()
            live = {s.host for s in services if s.is_up}
            self._take(context, name, members, live)

    def _take(self, context, driver, members, live):
        ring = hosts.ring_of(members)
        me = self.manager.host
        moved = 0
        for server_id, host, task_state, task_id in \
                server_obj.ServerList.get_hosts_of_driver(context, driver):
            if host == me or hosts.owner(ring, server_id) != me:
                continue
            # From a live service only between tasks; a dead one's at once.
            alive = host in live
            if not server_obj.Server.move_host(context, server_id, host, me,
                                               only_idle=alive):
                continue
            moved += 1
            LOG.info("Server %s (%s) moved from host %s (%s) to host %s",
                     server_id, driver, host, "up" if alive else "down", me)
            if task_state is not None and not alive and \
                    task_state not in states.RUNNING_STATE_OF:
                recovery.recover_task(self.manager, server_id, task_id,
                                      why=HOST_DIED)
        if moved:
            LOG.info("Host %s took %d %s server(s); the ring's members: %s",
                     me, moved, driver, ", ".join(members))

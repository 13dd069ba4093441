"""Keeping the records true to the hypervisor, so the API can answer from them.

The API never asks a driver (docs/architecture.md): a server's status, its
capabilities and its attached volumes are read here and recorded. Drivers
report changes as events (a guest stopped from outside, a disk attached),
which are recorded at once; every ``[DEFAULT] status_sync_interval`` seconds
every server is read anyway, for what no event told, and once after
start-up recovery.

The same reads find what was changed behind nativesnap's back: a snapshot
the hypervisor no longer holds (removed in vCenter, say) is marked ``error``
with a fault saying so, never silently kept; a driver that could not start
(vCenter refusing the password) shows its servers ``ERROR`` with the reason
until it starts, which is tried again at every sync.
"""

from oslo_log import log as logging
from oslo_utils import timeutils

from nativesnap.common import states
from nativesnap import exception
from nativesnap.objects import snapshot as snapshot_obj
from nativesnap.objects import server as server_obj
from nativesnap.virt import driver as virt_driver

LOG = logging.getLogger(__name__)

# The fault of a server whose driver could not start; cleared once it runs.
DRIVER_DOWN = "driver_unavailable"


class Sync:
    def __init__(self, manager):
        self.manager = manager

    def all(self, context):
        self.manager.retry_broken_drivers()
        for server in server_obj.ServerList.get_all(context,
                                                    host=self.manager.host):
            try:
                self.server(context, server)
            except Exception:
                LOG.exception("Syncing server %s failed", server.id)

    def server(self, context, server, volumes=True):
        """Record the server's status and capabilities (when no task holds
        it), its snapshots the hypervisor lost, and, with ``volumes``, its
        attached volumes, as its driver reports them."""
        if (server.driver not in self.manager.drivers
                or server.status == states.BUILD
                or server.hypervisor_ref.startswith("building:")):
            return
        broken = self.manager.broken_drivers.get(server.driver)
        if broken is not None:
            self._driver_down(server, broken)
            return
        driver = self.manager.drivers[server.driver]
        if server.task_state is None:
            self._state(context, server, driver)
        if server.task_state is None:
            self._lost_snapshots(context, server, driver)
        if volumes:
            attached = attached_volumes(context, driver, server)
            if attached is not None:
                server.set_volume_attachments(attached)

    @staticmethod
    def _save(server, **values):
        for name, value in values.items():
            setattr(server, name, value)
        try:
            server.save(expected_task_state=None)
        except exception.Conflict:
            server.refresh()  # a task started meanwhile; it owns the row

    def _state(self, context, server, driver):
        try:
            status = driver.get_server_state(context, server)
            capabilities = driver.get_capabilities(server)
        except exception.NativesnapException as e:
            LOG.debug("Could not read the state of server %s: %s", server.id, e)
            return
        values = {}
        if status != server.status:
            values["status"] = status
        if capabilities != server.capabilities:
            values["capabilities"] = capabilities
        if (server.fault or {}).get("reason") == DRIVER_DOWN:
            values["fault"] = None  # its driver runs again
        if values:
            self._save(server, **values)

    def _driver_down(self, server, reason):
        fault = {"code": 503, "reason": DRIVER_DOWN,
                 "message": f"The {server.driver} driver could not start: "
                            f"{reason}"}
        if server.status != states.SERVER_ERROR or server.fault != fault:
            self._save(server, status=states.SERVER_ERROR, fault=fault)

    @staticmethod
    def _lost_snapshots(context, server, driver):
        """Mark ``error`` the available snapshots the hypervisor no longer
        holds (drivers that can list what the hypervisor holds)."""
        # The records first: a snapshot a task finishes meanwhile is not
        # taken for lost; one a task moves meanwhile fails the CAS below.
        available = snapshot_obj.ServerSnapshotList.get_all(
            context, server_id=server.id, filters={"status": states.AVAILABLE})
        if not available:
            return
        try:
            held = {entry["id"] for entry in
                    driver.list_hypervisor_snapshots(context, server)
                    if entry.get("id")}
        except exception.NativesnapException:
            return  # this driver cannot list them, or not now
        for snapshot in available:
            if snapshot.id in held:
                continue
            LOG.warning("Snapshot %s of server %s is no longer on the "
                        "hypervisor; marking it error", snapshot.id, server.id)
            try:
                snapshot.transition(states.LOST, fault={
                    "code": 500,
                    "message": f"Snapshot {snapshot.id} ({snapshot.name}) is no "
                               f"longer on the hypervisor: it was removed "
                               f"outside nativesnap (found "
                               f"{timeutils.utcnow().isoformat(timespec='seconds')}"
                               "Z); delete it here too."})
            except exception.Conflict:
                pass  # a task moved it meanwhile


def attached_volumes(context, driver, server):
    """{volume id: device} of a driver with assisted volume snapshots; None
    when it has none or cannot tell now."""
    interface = driver.interfaces().get(virt_driver.VOLUME_SNAPSHOT)
    if interface is None:
        return None
    try:
        return {a.volume_id: a.device
                for a in interface.attached_volumes(context, server)}
    except exception.NativesnapException as e:
        LOG.debug("Could not list the volumes of server %s: %s", server.id, e)
        return None

"""The libvirt/QEMU driver.

What it does today: connects to libvirtd, adopts a domain by name or UUID
(the server is keyed by the domain's UUID, which survives renames) and reports
the domain's state. The snapshot verbs are not implemented yet and say so: they
raise UnsupportedOperation (400 naming the driver and the verb), and every
capability is reported False, so clients see honestly what this driver offers.
"""

import threading

from oslo_log import log as logging
from oslo_utils import uuidutils
import tenacity

from nativesnap.common import states
from nativesnap.conf import CONF
from nativesnap import exception
from nativesnap.virt import driver

try:
    import libvirt
except ImportError:  # reported when the driver is started, not at import
    libvirt = None

LOG = logging.getLogger(__name__)


def _state_map():
    return {
        libvirt.VIR_DOMAIN_RUNNING: states.ACTIVE,
        libvirt.VIR_DOMAIN_BLOCKED: states.ACTIVE,
        libvirt.VIR_DOMAIN_PAUSED: states.PAUSED,
        libvirt.VIR_DOMAIN_PMSUSPENDED: states.PAUSED,
        libvirt.VIR_DOMAIN_SHUTDOWN: states.SHUTOFF,
        libvirt.VIR_DOMAIN_SHUTOFF: states.SHUTOFF,
        libvirt.VIR_DOMAIN_CRASHED: states.SERVER_ERROR,
        libvirt.VIR_DOMAIN_NOSTATE: states.SERVER_ERROR,
    }


class LibvirtDriver(driver.ComputeDriver):
    name = "libvirt"
    capabilities = {name: False for name in driver.CAPABILITIES}

    def __init__(self):
        self._conn = None
        self._lock = threading.Lock()

    def init_host(self, host):
        self._connection()

    def cleanup_host(self):
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                except libvirt.libvirtError:
                    pass
                self._conn = None

    def _connection(self):
        if libvirt is None:
            raise exception.DriverError(driver=self.name, verb="connect",
                                        reason="the libvirt Python bindings are "
                                               "not installed (python3-libvirt)")
        with self._lock:
            if self._conn is not None and self._conn.isAlive():
                return self._conn
            self._conn = self._open()
            return self._conn

    def _open(self):
        uri = CONF.libvirt.uri

        @tenacity.retry(stop=tenacity.stop_after_delay(CONF.libvirt.connect_timeout),
                        wait=tenacity.wait_exponential(max=5),
                        retry=tenacity.retry_if_exception_type(libvirt.libvirtError),
                        reraise=True)
        def _open_with_retry():
            return libvirt.open(uri)

        try:
            conn = _open_with_retry()
        except libvirt.libvirtError as e:
            raise exception.DriverError(driver=self.name, verb="connect",
                                        reason=f"{uri}: {e}") from e
        LOG.info("Connected to %s (libvirt %s)", uri, conn.getLibVersion())
        return conn

    def _lookup(self, ref):
        conn = self._connection()
        try:
            if uuidutils.is_uuid_like(ref):
                return conn.lookupByUUIDString(ref)
            return conn.lookupByName(ref)
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                raise exception.HypervisorObjectNotFound(
                    driver=self.name, what="domain", ref=ref) from None
            raise exception.DriverError(driver=self.name, verb="look up",
                                        reason=str(e)) from e

    def _status(self, dom):
        state, _reason = dom.state()
        return _state_map().get(state, states.SERVER_ERROR)

    def adopt(self, context, hypervisor_ref):
        dom = self._lookup(hypervisor_ref)
        return driver.AdoptedObject(hypervisor_ref=dom.UUIDString(),
                                    name=dom.name(), status=self._status(dom))

    def get_server_state(self, context, server):
        try:
            return self._status(self._lookup(server.hypervisor_ref))
        except exception.HypervisorObjectNotFound:
            return states.SERVER_ERROR

    def validate_snapshot_request(self, server, kind, memory, quiesce,
                                  include_volumes):
        self._unsupported("create_snapshot", "not implemented by this driver yet")

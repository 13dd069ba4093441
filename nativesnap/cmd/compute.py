"""nativesnap-compute: the compute service of one hypervisor host.

It loads the host's drivers (``[DEFAULT] enabled_drivers``), finishes what a
crash interrupted, and serves the compute RPC API on topic
``nativesnap-compute`` as server ``[DEFAULT] host``, over the broker of
``[DEFAULT] transport_url``: the API processes hand it the tasks of the
servers it owns (docs/architecture.md). With the default in-process
transport there is nobody to talk to, and ``nativesnap-api`` runs the
compute service itself.

On SIGTERM (or SIGINT) it stops taking work, waits up to
``shutdown_timeout`` for running tasks and exits.
"""

import sys

from oslo_log import log as logging

from nativesnap.common import rpc
from nativesnap.common import service
from nativesnap.compute import manager as compute_manager
from nativesnap.conf import CONF
from nativesnap import context as ns_context

LOG = logging.getLogger(__name__)


def main(argv=None):
    argv = sys.argv if argv is None else argv
    # Its database is written by the API processes and the other compute
    # services too, which a sqlite file cannot take.
    service.prepare(argv, "nativesnap compute service",
                    check=lambda: service.refuse_shared_sqlite(
                        "nativesnap-compute"))
    if rpc.in_process():
        service.die("[DEFAULT] transport_url names no broker, so no API process "
                    "could reach this service; set it (e.g. rabbit://...) or "
                    "run nativesnap-api alone, which then runs the compute "
                    "service itself")
    stop = service.stop_event()
    compute = compute_manager.ComputeManager()
    context = ns_context.get_admin_context()
    compute.init_host(context)
    compute.start(context)
    LOG.info("nativesnap-compute of host %s serving over %s (drivers: %s)",
             compute.host, rpc.safe_transport_url(), ", ".join(compute.drivers))
    while not stop.wait(1.0):
        pass
    left = compute.shutdown(CONF.shutdown_timeout)
    rpc.cleanup()
    LOG.info("nativesnap-compute stopped (%d task(s) left to recovery)",
             len(left))
    service.exit_leaving_tasks(left)
    return 0


if __name__ == "__main__":
    sys.exit(main())

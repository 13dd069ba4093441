"""nativesnap-api: the REST API service.

Served by cheroot, CherryPy's production WSGI server. With the default
in-process transport (``[DEFAULT] transport_url`` unset) the same process
runs the compute service too — drivers, task workers, recovery — which is
the one-process deployment ``make run`` starts; with a broker URL it serves
the API only and hands work to ``nativesnap-compute`` processes
(docs/architecture.md).

On SIGTERM (or SIGINT) it stops taking requests, waits up to
``shutdown_timeout`` for running tasks, and exits; whatever is still running
then is finished or rolled back by start-up recovery on the next start.
"""

import gc
import sys
import threading

from cheroot import wsgi as cheroot_wsgi
from oslo_log import log as logging

from nativesnap.api import router
from nativesnap.common import rpc
from nativesnap.common import service
from nativesnap.compute import api as compute_api
from nativesnap.compute import manager as compute_manager
from nativesnap.conf import CONF
from nativesnap import context as ns_context

LOG = logging.getLogger(__name__)


def main(argv=None):
    argv = sys.argv if argv is None else argv
    service.prepare(argv, "nativesnap REST API")
    compute = None
    if rpc.in_process():
        compute = compute_manager.ComputeManager()
        context = ns_context.get_admin_context()
        compute.init_host(context)
        compute.start(context)
    app = router.make_app(compute_api.API())
    # Start-up left ~100k long-lived objects (modules, configuration, policy
    # rules, routes). Frozen out of the garbage collector's generations, they
    # are no longer walked by each full collection, which the objects of list
    # requests trigger every few requests (~90 ms each time, before freezing).
    gc.collect()
    gc.freeze()

    server = cheroot_wsgi.Server((CONF.api.host, CONF.api.port), app,
                                 numthreads=CONF.api.server_threads,
                                 timeout=CONF.api.request_timeout,
                                 request_queue_size=CONF.api.backlog,
                                 server_name="nativesnap")
    stop = service.stop_event()
    server.prepare()  # binds now, so a busy port fails here, loudly
    serving = threading.Thread(target=server.serve, name="nativesnap-http",
                               daemon=True)
    serving.start()
    LOG.info("nativesnap-api listening on http://%s:%d (%s)", CONF.api.host,
             server.bind_addr[1],
             "drivers: " + ", ".join(compute.drivers) if compute is not None
             else "no drivers: computes over " + rpc.safe_transport_url())
    while not stop.wait(1.0):
        if not serving.is_alive():
            LOG.error("The HTTP server stopped unexpectedly")
            break
    server.stop()
    left = compute.shutdown(CONF.shutdown_timeout) if compute is not None else []
    rpc.cleanup()
    LOG.info("nativesnap-api stopped (%d task(s) left to recovery)", len(left))
    service.exit_leaving_tasks(left)
    return 0


if __name__ == "__main__":
    sys.exit(main())

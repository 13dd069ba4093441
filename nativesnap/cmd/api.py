"""nativesnap-api: the REST API service (with its manager and task workers).

Served by cheroot, CherryPy's production WSGI server. On SIGTERM (or SIGINT)
it stops taking requests, waits up to ``shutdown_timeout`` for running tasks,
and exits; whatever is still running then is finished or rolled back by
start-up recovery on the next start.
"""

import gc
import logging as std_logging
import os
import signal
import sys
import threading

from cheroot import wsgi as cheroot_wsgi
from oslo_log import log as logging

from nativesnap.api import router
from nativesnap.common import failpoints
from nativesnap.common import service
from nativesnap.conf import CONF
from nativesnap import context as ns_context
from nativesnap.db import migration
from nativesnap import exception
from nativesnap.manager import manager as ns_manager

LOG = logging.getLogger(__name__)


def _check_schema():
    current = migration.db_version()
    head = migration.head_revision()
    if current != head:
        service.die(f"the database schema is at {current or 'nothing'}, not "
                    f"{head}: run 'nativesnap-manage db sync' first")


def main(argv=None):
    argv = sys.argv if argv is None else argv
    service.parse_args(argv, "nativesnap REST API")
    try:
        failpoints.configure(CONF.fault_injection.failpoints)
    except exception.InvalidFailpoint as e:
        service.die(str(e))
    service.ensure_state_dirs()
    _check_schema()

    context = ns_context.get_admin_context()
    manager = ns_manager.Manager()
    manager.init_host(context)
    manager.start_status_sync(context, CONF.status_sync_interval)
    app = router.make_app(manager)
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
    stop = threading.Event()

    def _on_signal(signum, _frame):
        LOG.info("Signal %d received: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    server.prepare()  # binds now, so a busy port fails here, loudly
    serving = threading.Thread(target=server.serve, name="nativesnap-http",
                               daemon=True)
    serving.start()
    LOG.info("nativesnap-api listening on http://%s:%d (drivers: %s)",
             CONF.api.host, server.bind_addr[1], ", ".join(manager.drivers))
    while not stop.wait(1.0):
        if not serving.is_alive():
            LOG.error("The HTTP server stopped unexpectedly")
            break
    server.stop()
    left = manager.shutdown(CONF.shutdown_timeout)
    LOG.info("nativesnap-api stopped (%d task(s) left to recovery)", len(left))
    if left:
        # The interpreter joins the task pool's threads at exit, so a normal
        # return would keep the process alive until those tasks end (forever
        # for a hung driver call) and shutdown_timeout would bound nothing.
        # They are left to start-up recovery: exit now, as a crash would.
        std_logging.shutdown()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())

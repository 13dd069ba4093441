"""oslo.messaging's options in [DEFAULT] (``transport_url``,
``rpc_response_timeout``, ...), registered up front so that nativesnap can
read ``transport_url`` before any transport exists: unset, API and compute
share one process (docs/architecture.md).

nativesnap's own defaults are set on the library's option objects (private
to oslo.messaging, which offers no other way) so that the sample
configuration shows the defaults in force."""

import warnings

from oslo_config import cfg

# oslo.messaging imports eventlet's helpers although nativesnap runs it on
# threads, and eventlet warns on every start that it is deprecated.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import oslo_messaging  # noqa: E402 - after the filter
from oslo_messaging import opts as messaging_opts  # noqa: E402
from oslo_messaging import server as messaging_server  # noqa: E402
from oslo_messaging import transport as messaging_transport  # noqa: E402

CONTROL_EXCHANGE = "nativesnap"
# API and compute in one process, without a broker (nativesnap/common/rpc.py).
IN_PROCESS_URL = "inprocess://"
# The compute service's RPC handlers only check and queue; its tasks run in
# its own pool ([DEFAULT] task_workers). The executor starts a thread for
# every message until it has this many, so a small pool is a stable one.
RPC_HANDLER_THREADS = 8


def set_defaults():
    """nativesnap's defaults of oslo.messaging's options, on the library's
    own option objects, so that the sample configuration shows them too."""
    oslo_messaging.set_transport_defaults(control_exchange=CONTROL_EXCHANGE)
    cfg.set_defaults(messaging_transport._transport_opts,
                     transport_url=IN_PROCESS_URL)
    cfg.set_defaults(messaging_server._pool_opts,
                     executor_thread_pool_size=RPC_HANDLER_THREADS)


def register_opts(conf):
    set_defaults()
    for group, opts in messaging_opts.list_opts():
        if group in (None, "DEFAULT"):
            conf.register_opts(opts)

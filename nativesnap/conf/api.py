"""[api] options: the HTTP listener, authentication and request limits."""

from oslo_config import cfg

api_group = cfg.OptGroup("api", title="REST API options")

opts = [
    cfg.HostAddressOpt("host", default="127.0.0.1",
                       help="Address nativesnap-api listens on."),
    cfg.PortOpt("port", default=8779, help="Port nativesnap-api listens on."),
    cfg.StrOpt("auth_strategy", default="noauth2", choices=[
        ("noauth2", "X-Auth-Token: <user>:<project>; user 'admin' is admin. "
                    "For development and closed networks only."),
        ("keystone", "keystonemiddleware auth_token; configure "
                     "[keystone_authtoken]."),
    ], help="How requests are authenticated."),
    cfg.IntOpt("max_limit", default=1000, min=1,
               help="Largest page a list request returns, whatever limit it asks."),
    cfg.IntOpt("max_request_body_size", default=1024 * 1024, min=1024,
               help="Largest request body accepted, in bytes; larger ones answer 413."),
    cfg.IntOpt("workers", default=1, min=1, max=64,
               help="Processes of nativesnap-api serving HTTP, each with "
                    "[api] server_threads threads, its own database "
                    "connections and its own broker connection. More than one "
                    "needs a broker ([DEFAULT] transport_url = rabbit://...): "
                    "with the in-process transport the one process also runs "
                    "the compute service, which cannot be forked. One process "
                    "uses about one core at most (docs/performance.md)."),
    cfg.IntOpt("server_threads", default=32, min=2,
               help="Threads of the WSGI server answering requests (in each "
                    "worker process)."),
    cfg.IntOpt("backlog", default=4096, min=1,
               help="Connections the listening socket queues before they are "
                    "accepted (the kernel caps it at net.core.somaxconn). Too "
                    "small a queue drops or resets the connections of a burst "
                    "of clients."),
    cfg.IntOpt("request_timeout", default=60, min=1,
               help="Seconds a client connection may stay idle before it is closed."),
    cfg.URIOpt("public_endpoint",
               help="Base URL put in links and Location headers (e.g. when behind a "
                    "proxy). Unset, the URL the request came to is used."),
]


def register_opts(conf):
    conf.register_group(api_group)
    conf.register_opts(opts, group=api_group)


def list_opts():
    return {api_group: opts}

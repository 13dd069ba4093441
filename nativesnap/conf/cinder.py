"""[cinder] options: how nativesnap reaches Cinder to call it back.

Modelled on Nova's [cinder] section: a keystoneauth auth plugin and session
(``auth_type``, TLS, ``timeout``), where Cinder is (``endpoint_template`` or
the catalog), and retries. docs/cinder.md describes the choices.
"""

from oslo_config import cfg

from nativesnap.conf import service_client

cinder_group = cfg.OptGroup("cinder", title="Cinder (block storage) client options",
                            help="How nativesnap calls Cinder: the status "
                                 "callbacks of assisted volume snapshots and the "
                                 "volume snapshots of server snapshots.")

opts = [
    cfg.StrOpt("endpoint_template",
               help="URL of Cinder's v3 API, e.g. "
                    "http://cinder:8776/v3/%(project_id)s. %(project_id)s is "
                    "replaced by the project the call is made in (see "
                    "docs/cinder.md). When set, the service catalog and "
                    "endpoint_override are not used."),
    cfg.IntOpt("http_retries", default=3, min=0,
               help="How many times a call that failed to connect, timed out or "
                    "got a 5xx answer is repeated; 0 means one attempt only. A "
                    "4xx answer is never repeated, and a snapshot creation only "
                    "when the connection failed (Cinder may have created it "
                    "otherwise)."),
    cfg.FloatOpt("http_retry_delay", default=0.5, min=0,
                 help="Seconds before the first repetition of a failed call; "
                      "doubled before each further one, up to "
                      "http_retry_max_delay."),
    cfg.FloatOpt("http_retry_max_delay", default=10.0, min=0,
                 help="Longest pause in seconds between two attempts of a call."),
    cfg.IntOpt("volume_operation_wait", default=300, min=1,
               help="Seconds an operation on a server waits for its turn: the "
                    "server's driver does one thing at a time, in the order "
                    "asked, so Cinder's assisted snapshots of several volumes "
                    "of one server, and a server snapshot beside them, queue. "
                    "One that waited this long fails (Cinder is told error with "
                    "what it waited for)."),
]

DEFAULT_TIMEOUT = 30
session_opts = service_client.session_opts(DEFAULT_TIMEOUT)
adapter_opts = service_client.adapter_opts("volumev3")
for _opt in adapter_opts:
    if _opt.dest == "endpoint_override":
        # keystoneauth's text speaks of an unversioned endpoint and of version
        # options nativesnap does not have; Cinder's URL is used as it is.
        _opt.help = ("Cinder's URL, used as it is: with /v3 and, where Cinder "
                     "needs it, the project (http://cinder:8776/v3/<project>). "
                     "endpoint_template, when set, is used instead.")


def register_opts(conf):
    service_client.register(conf, cinder_group,
                            opts + session_opts + adapter_opts)


def list_opts():
    # docs/cinder.md lists the other auth plugins.
    return {cinder_group: service_client.sample_opts(
        opts + session_opts + adapter_opts)}

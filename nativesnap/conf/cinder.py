"""[cinder] options: how nativesnap reaches Cinder to call it back.

Modelled on Nova's [cinder] section: a keystoneauth auth plugin and session
(``auth_type``, TLS, ``timeout``), where Cinder is (``endpoint_template`` or
the catalog), and retries. docs/cinder.md describes the choices.
"""

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

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

# keystoneauth's own session options (TLS, timeout) with a bounded default
# timeout: without one a Cinder that accepts the connection but never answers
# would hold a task forever.
DEFAULT_TIMEOUT = 30
session_opts = ks_loading.get_session_conf_options()
cfg.set_defaults(session_opts, timeout=DEFAULT_TIMEOUT)

# keystoneauth's adapter options that say where Cinder is in the catalog, or
# that it is at a fixed URL. Its retry options (connect_retries,
# status_code_retries...) are left out on purpose: nativesnap retries itself
# (http_retries) so that a 4xx is never repeated and a creation is repeated only
# when nothing was sent; two layers of retries would multiply.
_ADAPTER_OPTS = ("service_type", "service_name", "valid_interfaces",
                 "region_name", "endpoint_override")
adapter_opts = [opt for opt in ks_loading.get_adapter_conf_options(
    include_deprecated=False) if opt.dest in _ADAPTER_OPTS]
cfg.set_defaults(adapter_opts, service_type="volumev3",
                 valid_interfaces=["internal", "public"])
for _opt in adapter_opts:
    if _opt.dest == "endpoint_override":
        # keystoneauth's text speaks of an unversioned endpoint and of version
        # options nativesnap does not have; Cinder's URL is used as it is.
        _opt.help = ("Cinder's URL, used as it is: with /v3 and, where Cinder "
                     "needs it, the project (http://cinder:8776/v3/<project>). "
                     "endpoint_template, when set, is used instead.")


def register_opts(conf):
    # A group object of its own per ConfigOpts: oslo.config keeps a shallow
    # copy of a registered group, so the plugin options the auth loader adds at
    # run time would otherwise show up in every ConfigOpts (tests make several).
    conf.register_group(cfg.OptGroup(cinder_group.name, title=cinder_group.title,
                                     help=cinder_group.help))
    conf.register_opts(opts + session_opts + adapter_opts, group=cinder_group)
    # auth_type and auth_section; the chosen plugin's own options are
    # registered when it is loaded.
    ks_loading.register_auth_conf_options(conf, cinder_group.name)


def list_opts():
    # The sample shows the options of the "password" plugin, the usual one with
    # Keystone (as Nova's sample does); docs/cinder.md lists the others.
    return {cinder_group: (opts + session_opts + adapter_opts
                           + ks_loading.get_auth_common_conf_options()
                           + ks_loading.get_auth_plugin_conf_options("password"))}

"""[glance] options: how the Glance image store reaches Glance (docs/images.md).

Like [cinder]: a keystoneauth auth plugin and session (``auth_type``, TLS,
``timeout``), where Glance is (``endpoint_override`` or the catalog), and how
long Glance may take to make an uploaded image active.
"""

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

glance_group = cfg.OptGroup("glance", title="Glance (image service) client options",
                            help="How exports reach Glance when [image] backend "
                                 "= glance.")

opts = [
    cfg.IntOpt("status_timeout", default=300, min=1,
               help="Seconds to wait for Glance to make an uploaded image "
                    "active (it hashes the data) before the export fails."),
]

DEFAULT_TIMEOUT = 60
session_opts = ks_loading.get_session_conf_options()
cfg.set_defaults(session_opts, timeout=DEFAULT_TIMEOUT)
_ADAPTER_OPTS = ("service_type", "service_name", "valid_interfaces",
                 "region_name", "endpoint_override")
adapter_opts = [opt for opt in ks_loading.get_adapter_conf_options(
    include_deprecated=False) if opt.dest in _ADAPTER_OPTS]
cfg.set_defaults(adapter_opts, service_type="image",
                 valid_interfaces=["internal", "public"])


def register_opts(conf):
    # A group object of its own per ConfigOpts (see conf/cinder.py).
    conf.register_group(cfg.OptGroup(glance_group.name, title=glance_group.title,
                                     help=glance_group.help))
    conf.register_opts(opts + session_opts + adapter_opts, group=glance_group)
    ks_loading.register_auth_conf_options(conf, glance_group.name)


def list_opts():
    return {glance_group: (opts + session_opts + adapter_opts
                           + ks_loading.get_auth_common_conf_options()
                           + ks_loading.get_auth_plugin_conf_options("password"))}

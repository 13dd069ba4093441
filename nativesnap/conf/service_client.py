"""The keystoneauth options of a group through which nativesnap calls
another OpenStack service ([cinder], [glance]): an auth plugin, a session
(TLS, a bounded timeout) and where the service is (the catalog, or a fixed
URL). Each group gets option objects of its own.

keystoneauth's retry options of the adapter (connect_retries,
status_code_retries...) are left out on purpose: a caller that retries does
it itself, knowing which calls may be repeated; two layers of retries would
multiply.
"""

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

ADAPTER_OPTS = ("service_type", "service_name", "valid_interfaces",
                "region_name", "endpoint_override")


def session_opts(timeout):
    """keystoneauth's session options, with a bounded default ``timeout``:
    without one a service that accepts the connection but never answers would
    hold a task forever."""
    found = ks_loading.get_session_conf_options()
    cfg.set_defaults(found, timeout=timeout)
    return found


def adapter_opts(service_type):
    """The adapter options that say where the service is."""
    found = [opt for opt in ks_loading.get_adapter_conf_options(
        include_deprecated=False) if opt.dest in ADAPTER_OPTS]
    cfg.set_defaults(found, service_type=service_type,
                     valid_interfaces=["internal", "public"])
    return found


def register(conf, group, opts):
    """``opts`` and the auth options under a group object of its own per
    ConfigOpts: oslo.config keeps a shallow copy of a registered group, so
    the plugin options the auth loader adds at run time would otherwise show
    up in every ConfigOpts (tests make several)."""
    conf.register_group(cfg.OptGroup(group.name, title=group.title,
                                     help=group.help))
    conf.register_opts(opts, group=group.name)
    # auth_type and auth_section; the chosen plugin's own options are
    # registered when it is loaded.
    ks_loading.register_auth_conf_options(conf, group.name)


def sample_opts(opts):
    """What the sample shows: ``opts``, the common auth options and those of
    the "password" plugin, the usual one with Keystone (as Nova's sample
    does)."""
    return (opts + ks_loading.get_auth_common_conf_options()
            + ks_loading.get_auth_plugin_conf_options("password"))

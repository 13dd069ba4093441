"""[glance] options: how the Glance image store reaches Glance (docs/images.md).

Like [cinder]: a keystoneauth auth plugin and session (``auth_type``, TLS,
``timeout``), where Glance is (``endpoint_override`` or the catalog), and how
long Glance may take to make an uploaded image active.
"""

from oslo_config import cfg

from nativesnap.conf import service_client

glance_group = cfg.OptGroup("glance", title="Glance (image service) client options",
                            help="How exports reach Glance when [image] backend "
                                 "= glance.")

opts = [
    cfg.IntOpt("status_timeout", default=300, min=1,
               help="Seconds to wait for Glance to make an uploaded image "
                    "active (it hashes the data) before the export fails."),
]

DEFAULT_TIMEOUT = 60
session_opts = service_client.session_opts(DEFAULT_TIMEOUT)
adapter_opts = service_client.adapter_opts("image")


def register_opts(conf):
    service_client.register(conf, glance_group,
                            opts + session_opts + adapter_opts)


def list_opts():
    return {glance_group: service_client.sample_opts(
        opts + session_opts + adapter_opts)}

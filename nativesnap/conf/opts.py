"""Entry point for oslo-config-generator: every option group nativesnap owns."""

from oslo_config import cfg
from oslo_db import options as db_options
from oslo_log import log
from oslo_policy import opts as policy_opts

import nativesnap.conf  # noqa: F401 - registers options and defaults
from nativesnap.conf import api
from nativesnap.conf import baremetal
from nativesnap.conf import cinder
from nativesnap.conf import console
from nativesnap.conf import database
from nativesnap.conf import default
from nativesnap.conf import fault_injection
from nativesnap.conf import glance
from nativesnap.conf import image
from nativesnap.conf import libvirt
from nativesnap.conf import messaging
from nativesnap.conf import rbd
from nativesnap.conf import scheduler
from nativesnap.conf import service_user
from nativesnap.conf import upgrade_levels
from nativesnap.conf import vmware

# [database] belongs to oslo.db and is listed under its namespace; its default
# connection is set in set_lib_defaults so the sample shows nativesnap's.
_MODULES = (default, api, console, image, libvirt, vmware, baremetal, fault_injection,
            cinder, glance, service_user, rbd, upgrade_levels, scheduler)


def list_opts():
    merged = {}
    for module in _MODULES:
        for group, opts in module.list_opts().items():
            merged.setdefault(group, []).extend(opts)
    return [(group, sorted(opts, key=lambda o: o.name))
            for group, opts in merged.items()]


def set_lib_defaults():
    """Library defaults nativesnap changes, so the sample shows the real ones."""
    from nativesnap.conf import CONF

    database.register_opts(CONF)
    # ConfigOpts.set_default (above) is not seen by the generator, which
    # prints the options' own defaults: set that too.
    cfg.set_defaults(db_options.database_opts,
                     connection=database.DEFAULT_SQL_CONNECTION,
                     max_pool_size=database.DEFAULT_MAX_POOL_SIZE)
    policy_opts.set_defaults(CONF, policy_file="policy.yaml")
    messaging.set_defaults()
    log.set_defaults(default_log_levels=log.get_default_log_levels() + [
        "cheroot=WARNING", "keystonemiddleware=INFO", "alembic=WARNING",
        "oslo_messaging=INFO"])

"""Configuration: every option nativesnap reads is registered here, on one CONF."""

from oslo_config import cfg

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

CONF = cfg.CONF

default.register_opts(CONF)
api.register_opts(CONF)
console.register_opts(CONF)
database.register_opts(CONF)
image.register_opts(CONF)
cinder.register_opts(CONF)
libvirt.register_opts(CONF)
fault_injection.register_opts(CONF)
glance.register_opts(CONF)
service_user.register_opts(CONF)
rbd.register_opts(CONF)
messaging.register_opts(CONF)
vmware.register_opts(CONF)
baremetal.register_opts(CONF)
upgrade_levels.register_opts(CONF)
scheduler.register_opts(CONF)

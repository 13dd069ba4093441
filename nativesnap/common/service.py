"""Start-up steps shared by the console commands."""

import os
import sys

from oslo_log import log as logging

from nativesnap.conf import CONF
from nativesnap.conf import opts
from nativesnap import version

LOG = logging.getLogger(__name__)


def parse_args(argv, description=None):
    # The library defaults the sample configuration shows are the ones in force.
    opts.set_lib_defaults()
    logging.register_options(CONF)
    CONF(argv[1:], project="nativesnap", version=version.VERSION,
         description=description)
    logging.setup(CONF, "nativesnap")


def ensure_state_dirs():
    """The state directory is private to the service (0700)."""
    os.makedirs(CONF.state_path, mode=0o700, exist_ok=True)
    os.chmod(CONF.state_path, 0o700)
    os.umask(0o077)  # files the service creates are readable by it alone


def die(message):
    print(f"ERROR: {message}", file=sys.stderr)
    sys.exit(1)

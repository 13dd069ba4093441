"""Start-up steps shared by the console commands."""

import logging as std_logging
import os
import signal
import sys
import threading

from oslo_log import log as logging

from nativesnap.common import failpoints
from nativesnap.conf import CONF
from nativesnap.conf import opts
from nativesnap.db import migration
from nativesnap import exception
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


def prepare(argv, description):
    """What every service does first: configuration, failpoints, its state
    directory, and a database schema at the code's revision."""
    parse_args(argv, description)
    try:
        failpoints.configure(CONF.fault_injection.failpoints)
    except exception.InvalidFailpoint as e:
        die(str(e))
    ensure_state_dirs()
    current = migration.db_version()
    head = migration.head_revision()
    if current != head:
        die(f"the database schema is at {current or 'nothing'}, not {head}: "
            "run 'nativesnap-manage db sync' first")


def stop_event():
    """An event set by SIGTERM or SIGINT."""
    stop = threading.Event()

    def _on_signal(signum, _frame):
        LOG.info("Signal %d received: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    return stop


def exit_leaving_tasks(left):
    """Exit at once when tasks are still running (start-up recovery will
    finish or roll them back): the interpreter joins the task pool's
    threads at exit, so a normal return would wait for them (forever for a
    hung driver call) and shutdown_timeout would bound nothing."""
    if left:
        std_logging.shutdown()
        os._exit(0)

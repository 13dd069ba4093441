"""Start-up steps shared by the console commands.

They live here so that every service starts, refuses what it cannot run and
stops the same way: a configuration the deployment cannot work with (say, a
sqlite file that several processes would write) is refused at once with a
message naming the fix, before anything is touched, rather than failing later
under load (docs/deployment.md).
"""

import logging as std_logging
import os
import signal
import sys
import threading

from oslo_log import log as logging
import sqlalchemy as sa

from nativesnap.common import failpoints
from nativesnap.conf import CONF
from nativesnap.conf import opts
from nativesnap.db import api as db_api
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


def is_sqlite(connection):
    """True when ``connection`` (a [database] connection URL) is sqlite's."""
    if not connection:
        return False
    try:
        return sa.engine.make_url(connection).get_backend_name() == "sqlite"
    except sa.exc.ArgumentError:
        return False  # not a URL at all: the schema check reports it


def refuse_shared_sqlite(command):
    """Exit with a message when ``[database] connection`` is sqlite.

    For a ``command`` whose database several processes write: the API
    processes and every compute service, on other hosts too. A sqlite file
    belongs to one host and takes one writer at a time, so the caller decides
    when that is the case (nativesnap-compute always; nativesnap-api with a
    broker)."""
    if is_sqlite(CONF.database.connection):
        die(f"{command} cannot use the sqlite database of [database] "
            "connection: several processes write this database (nativesnap-api "
            "and every nativesnap-compute, on other hosts too), and a sqlite "
            "file belongs to one host and takes one writer at a time. Use "
            "PostgreSQL ([database] connection = "
            "postgresql+psycopg2://USER:PASSWORD@HOST/nativesnap); see "
            "docs/deployment.md")


def prepare(argv, description, check=None):
    """What every service does first: configuration, failpoints, its state
    directory, and a database schema at the code's revision.

    ``check``, when given, is called once the configuration is read and
    before anything is touched: it refuses a deployment the service cannot
    run (with ``die``). The engine of the schema check is disposed of
    afterwards, so that no database connection made here outlives start-up
    (nativesnap-api forks its workers after it)."""
    parse_args(argv, description)
    if check is not None:
        check()
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
    db_api.dispose()


def stop_event():
    """An event set by SIGTERM or SIGINT; its ``signum`` is the signal's."""
    stop = threading.Event()
    stop.signum = None

    def _on_signal(signum, _frame):
        LOG.info("Signal %d received: stopping", signum)
        stop.signum = signum
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

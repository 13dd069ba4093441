"""nativesnap-manage: administrative commands (``db sync``, ``db version``)."""

import sys

from oslo_config import cfg

from nativesnap.common import service
from nativesnap.conf import CONF
from nativesnap.db import migration


def _db_sync():
    service.ensure_state_dirs()
    migration.db_sync(revision=CONF.command.revision)
    print(f"Database schema at revision {migration.db_version()}.")


def _db_version():
    print(migration.db_version() or "none (run 'nativesnap-manage db sync')")


def _add_parsers(subparsers):
    db = subparsers.add_parser("db", help="Database schema commands.")
    db_sub = db.add_subparsers(dest="db_command")
    sync = db_sub.add_parser("sync", help="Upgrade the schema to the latest "
                                          "revision (safe to run again).")
    sync.add_argument("revision", nargs="?", default="head")
    sync.set_defaults(func=_db_sync)
    ver = db_sub.add_parser("version", help="Print the schema revision.")
    ver.set_defaults(func=_db_version)


def main(argv=None):
    argv = sys.argv if argv is None else argv
    CONF.register_cli_opt(cfg.SubCommandOpt("command", handler=_add_parsers,
                                            title="Commands"))
    service.parse_args(argv, "nativesnap administration")
    func = getattr(CONF.command, "func", None)
    if func is None:
        service.die("name a command, e.g. 'nativesnap-manage db sync'")
    func()


if __name__ == "__main__":
    main()

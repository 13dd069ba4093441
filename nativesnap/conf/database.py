"""[database] options: oslo.db's, with a sqlite default inside state_path."""

from oslo_db import options as db_options

DEFAULT_SQL_CONNECTION = "sqlite:///$state_path/nativesnap.sqlite"


def register_opts(conf):
    db_options.set_defaults(conf, connection=DEFAULT_SQL_CONNECTION)



"""[database] options: oslo.db's, with a sqlite default inside state_path."""

from oslo_db import options as db_options

DEFAULT_SQL_CONNECTION = "sqlite:///$state_path/nativesnap.sqlite"

# Connections the pool keeps open. nativesnap-api runs [api] server_threads
# (32) request threads and [DEFAULT] task_workers (8) task threads, each of
# which may hold a connection at once. With oslo.db's 5, every request beyond
# five concurrent ones opened a connection of its own and closed it afterwards
# (on PostgreSQL a new backend process and a password exchange each time).
# The pool opens connections only as they are needed.
DEFAULT_MAX_POOL_SIZE = 40


def register_opts(conf):
    db_options.set_defaults(conf, connection=DEFAULT_SQL_CONNECTION,
                            max_pool_size=DEFAULT_MAX_POOL_SIZE)



"""Schema migrations (alembic), driven from code rather than an alembic.ini so that
`nativesnap-manage db sync` needs nothing but the service's own configuration."""

import os

from alembic import command
from alembic import config as alembic_config
from alembic import migration as alembic_migration

from nativesnap.db import api as db_api

_SCRIPT_LOCATION = os.path.join(os.path.dirname(__file__), "migrations")


def _config(connection):
    cfg = alembic_config.Config()
    cfg.set_main_option("script_location", _SCRIPT_LOCATION)
    cfg.attributes["connection"] = connection
    return cfg


def db_sync(engine=None, revision="head"):
    """Upgrade the schema to ``revision``; running it twice changes nothing."""
    engine = engine or db_api.get_engine()
    with engine.begin() as connection:
        command.upgrade(_config(connection), revision)


def db_version(engine=None):
    engine = engine or db_api.get_engine()
    with engine.connect() as connection:
        return alembic_migration.MigrationContext.configure(
            connection).get_current_revision()


def head_revision():
    from alembic import script as alembic_script

    return alembic_script.ScriptDirectory(_SCRIPT_LOCATION).get_current_head()

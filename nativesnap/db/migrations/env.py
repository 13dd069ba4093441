"""alembic environment: runs on the connection nativesnap's migration code hands it."""

from alembic import context

from nativesnap.db import models

config = context.config
target_metadata = models.BASE.metadata


def run_migrations_online():
    connection = config.attributes["connection"]
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("nativesnap migrations run online only: nativesnap-manage db sync")
run_migrations_online()

"""Migrations on sqlite and on real PostgreSQL: db_sync reaches head, a second
db_sync changes nothing, and the migrated schema is exactly the models'."""

from alembic import autogenerate
from alembic import migration as alembic_migration
import sqlalchemy as sa

from nativesnap.db import api as db_api
from nativesnap.db import migration
from nativesnap.db import models


def _schema(engine):
    """Every table, column (type, nullability), index and constraint."""
    inspector = sa.inspect(engine)
    schema = {}
    for table in sorted(inspector.get_table_names()):
        schema[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"])
                        for c in inspector.get_columns(table)],
            "indexes": sorted((i["name"], tuple(i["column_names"]))
                              for i in inspector.get_indexes(table)),
            "unique": sorted((u["name"], tuple(u["column_names"]))
                             for u in inspector.get_unique_constraints(table)),
            "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"])
                          for f in inspector.get_foreign_keys(table)),
            "pk": inspector.get_pk_constraint(table)["constrained_columns"],
        }
    return schema


def _diffs(engine, metadata):
    with engine.connect() as conn:
        context = alembic_migration.MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True})
        return autogenerate.compare_metadata(context, metadata)


def test_db_sync_upgrades_an_empty_database_to_head(database):
    engine = db_api.get_engine()
    assert migration.db_version(engine) == migration.head_revision()
    assert {"servers", "snapshots", "images", "alembic_version"} <= set(
        sa.inspect(engine).get_table_names())


def test_db_sync_twice_is_a_no_op(database):
    engine = db_api.get_engine()
    before = _schema(engine)
    migration.db_sync()
    assert migration.db_version(engine) == migration.head_revision()
    assert _schema(engine) == before
    with engine.connect() as conn:
        assert conn.execute(sa.text(
            "SELECT version_num FROM alembic_version")).scalars().all() == [
            migration.head_revision()]


def test_migrated_schema_matches_the_models(database):
    diffs = _diffs(db_api.get_engine(), models.BASE.metadata)
    assert diffs == [], f"migrations and models disagree: {diffs}"


def test_schema_comparison_would_see_a_model_the_migrations_lack(database):
    # Proves the comparison above is not vacuous: a column in the models that
    # no migration creates is reported.
    metadata = sa.MetaData()
    for table in models.BASE.metadata.sorted_tables:
        table.to_metadata(metadata)
    metadata.tables["snapshots"].append_column(
        sa.Column("not_migrated", sa.String(8), nullable=True))
    diffs = _diffs(db_api.get_engine(), metadata)
    assert [d[0] for d in diffs] == ["add_column"]
    assert diffs[0][3].name == "not_migrated"


def test_0006_adds_baremetal_nodes_to_a_database_in_use(db_url):
    # A database at 0005 holding a server: 0006 adds the empty node table
    # (unique names) and leaves the rest as it was.
    db_api.configure(db_url)
    try:
        engine = db_api.get_engine()
        migration.db_sync(revision="0005")
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO servers (id, name, project_id, driver, "
                "hypervisor_ref, host, status, origin, linked, capabilities, "
                "driver_info) VALUES ('s1', 'vm', 'p', 'fake', 'r', 'h', "
                "'ACTIVE', 'adopted', :false, '{}', '{}')"), {"false": False})
        assert "baremetal_nodes" not in sa.inspect(engine).get_table_names()
        migration.db_sync()
        assert migration.db_version(engine) == migration.head_revision()
        schema = _schema(engine)["baremetal_nodes"]
        assert schema["pk"] == ["id"]
        assert ("uniq_baremetal_nodes0name", ("name",)) in schema["unique"]
        with engine.connect() as conn:
            assert conn.execute(sa.text(
                "SELECT id FROM servers")).scalars().all() == ["s1"]
            assert conn.execute(sa.text(
                "SELECT count(*) FROM baremetal_nodes")).scalar() == 0
    finally:
        db_api.dispose()

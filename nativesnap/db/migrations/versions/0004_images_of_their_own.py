"""Exported images as a resource of their own.

An image keeps its server (``server_id``) after the server and its
snapshots are gone, says which store holds it (``backend``: local or glance)
and under which id there (``store_ref``, Glance's image id), and which
compute service made it (``host``, the one that can remove a local file).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("server_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("host", sa.String(255), nullable=True))
        batch.add_column(sa.Column("backend", sa.String(16), nullable=False,
                                   server_default="local"))
        batch.add_column(sa.Column("store_ref", sa.String(255), nullable=True))
    op.create_index("images_project_id_created_at_idx", "images",
                    ["project_id", "created_at"])
    # Images exported before: their server and host, from their snapshot
    # while it exists (the images of a deleted snapshot keep neither; any
    # compute service may then remove them, docs/images.md).
    op.execute(
        "UPDATE images SET server_id = (SELECT snapshots.server_id FROM "
        "snapshots WHERE snapshots.id = images.snapshot_id) "
        "WHERE server_id IS NULL")
    op.execute(
        "UPDATE images SET host = (SELECT servers.host FROM servers "
        "WHERE servers.id = images.server_id) WHERE host IS NULL")

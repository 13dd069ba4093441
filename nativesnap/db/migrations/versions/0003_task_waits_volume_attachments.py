"""Tasks that wait for an outside event, and the record of attached volumes.

A waiting task keeps its server's lock with a deadline and what its driver
needs to carry on (``task_wait_until``, ``task_wait_info``), so a restart
loses neither. ``volume_attachments`` is the compute service's record of
which Cinder volume is attached to which server, kept current as it syncs,
so Cinder's assisted snapshots find their server without asking any driver.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("servers") as batch:
        batch.add_column(sa.Column("task_wait_until", sa.DateTime, nullable=True))
        batch.add_column(sa.Column("task_wait_info", sa.Text, nullable=True))
    op.create_table(
        "volume_attachments",
        sa.Column("created_at", sa.DateTime, nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=True),
        sa.Column("server_id", sa.String(36), sa.ForeignKey("servers.id"),
                  primary_key=True),
        sa.Column("volume_id", sa.String(36), primary_key=True),
        sa.Column("device", sa.String(255), nullable=False),
    )
    op.create_index("volume_attachments_volume_id_idx", "volume_attachments",
                    ["volume_id"])

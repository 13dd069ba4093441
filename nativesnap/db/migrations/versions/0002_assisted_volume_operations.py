"""The record of Cinder's assisted volume snapshot requests.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "assisted_volume_operations",
        sa.Column("created_at", sa.DateTime, nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=True),
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("volume_id", sa.String(36), nullable=False),
        sa.Column("snapshot_id", sa.String(36), nullable=False),
        sa.Column("server_id", sa.String(36), nullable=True),
        sa.Column("disk", sa.String(32), nullable=True),
        sa.Column("user_id", sa.String(255), nullable=True),
        sa.Column("project_id", sa.String(255), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("request", sa.Text, nullable=True),
        sa.Column("files", sa.Text, nullable=True),
        sa.Column("callback", sa.Text, nullable=True),
        sa.Column("finished_at", sa.DateTime, nullable=True),
        sa.Column("duration_ms", sa.Integer, nullable=True),
        sa.Column("fault", sa.Text, nullable=True),
    )
    op.create_index("assisted_volume_operations_created_at_idx",
                    "assisted_volume_operations", ["created_at"])
    op.create_index("assisted_volume_operations_volume_id_idx",
                    "assisted_volume_operations", ["volume_id"])
    op.create_index("assisted_volume_operations_host_status_idx",
                    "assisted_volume_operations", ["host", "status"])

"""Initial schema: servers, snapshots, images.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _timestamps():
    return [sa.Column("created_at", sa.DateTime, nullable=True),
            sa.Column("updated_at", sa.DateTime, nullable=True)]


def upgrade():
    op.create_table(
        "servers",
        *_timestamps(),
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=True),
        sa.Column("driver", sa.String(64), nullable=False),
        sa.Column("hypervisor_ref", sa.String(255), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("task_state", sa.String(32), nullable=True),
        sa.Column("task_id", sa.String(36), nullable=True),
        sa.Column("task_started_at", sa.DateTime, nullable=True),
        sa.Column("task_target_id", sa.String(36), nullable=True),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("source_snapshot_id", sa.String(36), nullable=True),
        sa.Column("linked", sa.Boolean, nullable=False),
        sa.Column("current_snapshot_id", sa.String(36), nullable=True),
        sa.Column("capabilities", sa.Text, nullable=False),
        sa.Column("driver_info", sa.Text, nullable=False),
        sa.Column("fault", sa.Text, nullable=True),
        sa.UniqueConstraint("driver", "host", "hypervisor_ref",
                            name="uniq_servers0driver0host0hypervisor_ref"),
    )
    op.create_index("servers_project_id_idx", "servers", ["project_id"])
    op.create_index("servers_host_task_state_idx", "servers", ["host", "task_state"])

    op.create_table(
        "snapshots",
        *_timestamps(),
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("server_id", sa.String(36), sa.ForeignKey("servers.id"),
                  nullable=False),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=True),
        sa.Column("memory", sa.Boolean, nullable=False),
        sa.Column("quiesce", sa.String(16), nullable=False),
        sa.Column("include_volumes", sa.Boolean, nullable=False),
        sa.Column("consistency", sa.String(16), nullable=True),
        sa.Column("parent_id", sa.String(36), nullable=True),
        sa.Column("size_bytes", sa.BigInteger, nullable=True),
        sa.Column("frozen_ms", sa.Integer, nullable=True),
        sa.Column("paused_ms", sa.Integer, nullable=True),
        sa.Column("volumes", sa.Text, nullable=False),
        sa.Column("disks", sa.Text, nullable=False),
        sa.Column("driver_info", sa.Text, nullable=False),
        sa.Column("fault", sa.Text, nullable=True),
    )
    op.create_index("snapshots_server_id_created_at_idx", "snapshots",
                    ["server_id", "created_at"])
    op.create_index("snapshots_project_id_created_at_idx", "snapshots",
                    ["project_id", "created_at"])
    op.create_index("snapshots_status_idx", "snapshots", ["status"])

    op.create_table(
        "images",
        *_timestamps(),
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("snapshot_id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("disk_format", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Integer, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("location", sa.Text, nullable=True),
        sa.Column("fault", sa.Text, nullable=True),
    )
    op.create_index("images_snapshot_id_idx", "images", ["snapshot_id"])

"""Snapshot policies, quotas and the queue of requests waiting for a server.

A policy is a schedule, what to take and a retention rule; it is attached to
servers, and each attachment keeps its own last run, next run and the last
run's outcome (docs/scheduler.md). Snapshots record the policy that took them
and the schedule slot they were taken for, which retention buckets by. A
request that waits for a busy server is a row of its own, so that a restart
loses none and starts them in order.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_KEEP = ("keep_last", "keep_hourly", "keep_daily", "keep_weekly",
         "keep_monthly", "keep_yearly")


def upgrade():
    op.create_table(
        "snapshot_policies",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("interval_minutes", sa.Integer, nullable=True),
        sa.Column("cron", sa.String(255), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("memory", sa.Boolean, nullable=False),
        sa.Column("quiesce", sa.String(16), nullable=False),
        sa.Column("include_volumes", sa.Boolean, nullable=False),
        sa.Column("name_template", sa.String(255), nullable=False),
        *[sa.Column(k, sa.Integer, nullable=False) for k in _KEEP],
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=True),
        sa.Index("snapshot_policies_project_id_idx", "project_id"),
    )
    op.create_table(
        "policy_attachments",
        sa.Column("policy_id", sa.String(36),
                  sa.ForeignKey("snapshot_policies.id"), primary_key=True),
        sa.Column("server_id", sa.String(36), sa.ForeignKey("servers.id"),
                  primary_key=True),
        sa.Column("last_run_at", sa.DateTime, nullable=True),
        sa.Column("next_run_at", sa.DateTime, nullable=True),
        sa.Column("outcome", sa.Text, nullable=True),
        sa.Column("prune_due", sa.Boolean, nullable=False,
                  server_default=sa.false()),
        sa.Column("created_at", sa.DateTime, nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=True),
        sa.Index("policy_attachments_server_id_idx", "server_id"),
        sa.Index("policy_attachments_next_run_at_idx", "next_run_at"),
    )
    op.create_table(
        "quotas",
        sa.Column("project_id", sa.String(255), primary_key=True),
        sa.Column("resource", sa.String(64), primary_key=True),
        sa.Column("hard_limit", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=True),
    )
    op.create_table(
        "queued_requests",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("server_id", sa.String(36), sa.ForeignKey("servers.id"),
                  nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("snapshot_id", sa.String(36), nullable=True),
        sa.Column("params", sa.Text, nullable=True),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=True),
        sa.Column("roles", sa.Text, nullable=True),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=True),
        sa.Index("queued_requests_server_id_idx", "server_id", "created_at"),
    )
    with op.batch_alter_table("snapshots") as batch:
        batch.add_column(sa.Column("policy_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("scheduled_at", sa.DateTime, nullable=True))
        batch.add_column(sa.Column("delete_attempts", sa.Integer,
                                   nullable=False, server_default="0"))
        batch.add_column(sa.Column("retry_at", sa.DateTime, nullable=True))
        batch.create_index("snapshots_policy_id_idx", ["policy_id"])

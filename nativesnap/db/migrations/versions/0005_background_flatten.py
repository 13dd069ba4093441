"""Background flattens and the reason an export fell back to a copy.

A full spawn or an export of a Ceph RBD snapshot is a clone that is usable at
once and flattened in the background (docs/rbd.md): ``flatten_progress`` on
the server or image says how far that flatten is (NULL when none applies, 100
when done); the compute service that owns it resumes an unfinished one after
a restart, with the driver's handle (``servers.flatten_ref``; an image's is its
location). ``fallback_reason`` says why an export was a full copy when a
clone was asked for.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("flatten_progress", sa.Integer, nullable=True))
        batch.add_column(sa.Column("fallback_reason", sa.Text, nullable=True))
    with op.batch_alter_table("servers") as batch:
        batch.add_column(sa.Column("flatten_progress", sa.Integer, nullable=True))
        batch.add_column(sa.Column("flatten_ref", sa.Text, nullable=True))

"""A bare-metal server's provision state.

Servers of the bare-metal driver carry the provision state of the Ironic
"Snapshot support" spec beside their task lock (docs/baremetal.md); it is
NULL for every other driver's servers.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("servers") as batch:
        batch.add_column(sa.Column("provision_state", sa.String(32),
                                   nullable=True))

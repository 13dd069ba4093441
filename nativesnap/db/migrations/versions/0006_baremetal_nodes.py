"""Bare-metal nodes enrolled by operators (POST /v1/baremetal/nodes).

A node is a physical machine whose agent (``nativesnap-agent``) the
bare-metal driver reaches over HTTP(S) with a token, optionally powered
through its BMC's Redfish service. Operators enrol nodes before servers are
adopted on them, as Ironic enrols nodes before deploying. The token and the
Redfish password are stored because the conductor must present them; the
API never shows them. Names are unique: a server adopted on a node may name
it by name in its ``hypervisor_ref`` (as a libvirt domain is adopted by
name), so a name must point at one node. No soft delete, as for every other
table.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "baremetal_nodes",
        sa.Column("created_at", sa.DateTime, nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=True),
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("agent_url", sa.String(2048), nullable=False),
        sa.Column("agent_token", sa.Text, nullable=False),
        sa.Column("root_device_hint", sa.Text, nullable=True),
        sa.Column("power_interface", sa.String(16), nullable=False),
        sa.Column("redfish_address", sa.String(2048), nullable=True),
        sa.Column("redfish_system_id", sa.String(255), nullable=True),
        sa.Column("redfish_username", sa.String(255), nullable=True),
        sa.Column("redfish_password", sa.Text, nullable=True),
        sa.Column("redfish_verify_ca", sa.Boolean, nullable=False),
        sa.Column("last_heartbeat_at", sa.DateTime, nullable=True),
        sa.Column("agent_version", sa.String(64), nullable=True),
        sa.UniqueConstraint("name", name="uniq_baremetal_nodes0name"),
    )
    op.create_index("baremetal_nodes_created_at_idx", "baremetal_nodes",
                    ["created_at"])

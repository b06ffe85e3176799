"""Several gateway nodes on one database: the node registry, each call's owner and quality summary, outbox claims
with a lease, and recordings a lost node left incomplete

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("live_calls", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("max_calls", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("node_id", sa.String(200), nullable=True))
        batch.add_column(sa.Column("quality", sa.JSON(), nullable=True))
        batch.create_index("ix_calls_node_live", ["node_id", "state"])
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("incomplete", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("incomplete")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
    with op.batch_alter_table("calls") as batch:
        batch.drop_index("ix_calls_node_live")
        batch.drop_column("quality")
        batch.drop_column("node_id")
    op.drop_table("nodes")

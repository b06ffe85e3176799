"""permission_replies: each user's latest answer to a call-permission request

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "permission_replies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=64), nullable=False),
        sa.Column("response", sa.String(length=32), nullable=False),
        sa.Column("is_permanent", sa.Boolean(), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("context_id", sa.String(length=200), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "phone"),
    )


def downgrade() -> None:
    op.drop_table("permission_replies")

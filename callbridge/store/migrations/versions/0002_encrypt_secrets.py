"""encrypt secrets at rest

The session token, the Cloud credentials and the webhook secret move to ``*_encrypted`` columns holding Fernet
tokens, encrypted with the key the gateway was started with; the clear columns are dropped (the token's unique
constraint with them: its digest stays unique and is what sessions are looked up by).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 10:00:00.000000
"""

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

from callbridge.store.secrets import SecretBox, box_for

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The sessions table as both revisions see it, with plain types: values are converted here, by hand.
sessions = sa.table(
    "sessions",
    sa.column("id", sa.Integer()),
    sa.column("token", sa.String()),
    sa.column("cloud", sa.JSON()),
    sa.column("webhook_secret", sa.String()),
    sa.column("token_encrypted", sa.Text()),
    sa.column("cloud_encrypted", sa.Text()),
    sa.column("webhook_secret_encrypted", sa.Text()),
)


def _seal(box: SecretBox, value: str | None) -> str | None:
    return None if value is None else box.encrypt(value)


def _open(box: SecretBox, value: str | None) -> str | None:
    return None if value is None else box.decrypt(value)


def upgrade() -> None:
    bind = op.get_bind()
    box = box_for(bind.dialect)
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_encrypted", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("cloud_encrypted", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("webhook_secret_encrypted", sa.Text(), nullable=True))

    rows = bind.execute(sa.select(sessions.c.id, sessions.c.token, sessions.c.cloud, sessions.c.webhook_secret))
    for session_id, token, cloud, webhook_secret in rows.all():
        values: dict[str, Any] = {
            "token_encrypted": box.encrypt(token),
            "cloud_encrypted": None if cloud is None else box.encrypt(json.dumps(cloud)),
            "webhook_secret_encrypted": _seal(box, webhook_secret),
        }
        bind.execute(sa.update(sessions).where(sessions.c.id == session_id).values(values))

    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.alter_column("token_encrypted", existing_type=sa.Text(), nullable=False)
        batch_op.drop_column("token")
        batch_op.drop_column("cloud")
        batch_op.drop_column("webhook_secret")


def downgrade() -> None:
    bind = op.get_bind()
    box = box_for(bind.dialect)
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("cloud", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("webhook_secret", sa.String(length=200), nullable=True))

    rows = bind.execute(
        sa.select(
            sessions.c.id, sessions.c.token_encrypted, sessions.c.cloud_encrypted, sessions.c.webhook_secret_encrypted
        )
    )
    for session_id, token, cloud, webhook_secret in rows.all():
        plain_cloud = _open(box, cloud)
        values: dict[str, Any] = {
            "token": box.decrypt(token),
            "cloud": None if plain_cloud is None else json.loads(plain_cloud),
            "webhook_secret": _open(box, webhook_secret),
        }
        bind.execute(sa.update(sessions).where(sessions.c.id == session_id).values(values))

    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.alter_column("token", existing_type=sa.String(length=200), nullable=False)
        batch_op.create_unique_constraint("sessions_token_key", ["token"])
        batch_op.drop_column("token_encrypted")
        batch_op.drop_column("cloud_encrypted")
        batch_op.drop_column("webhook_secret_encrypted")

"""the console's SMS page: the ledger's messages of one status or one provider, the newest first, by an index

Revision ID: f3b8d1c6a9e4
Revises: c0a5e1f7d3b2
Create Date: 2026-12-06 21:40:00.000000
"""

from collections.abc import Sequence

from alembic import op


revision: str = "f3b8d1c6a9e4"
down_revision: str | None = "c0a5e1f7d3b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_sms_messages_status_created_at", "sms_messages", ["status", "created_at"], unique=False)
    op.create_index(
        "ix_sms_messages_provider_created_at", "sms_messages", ["provider", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_sms_messages_provider_created_at", table_name="sms_messages")
    op.drop_index("ix_sms_messages_status_created_at", table_name="sms_messages")

"""devices on tokens (label, masked IP), deleted accounts kept as tombstones (deleted_at)

Revision ID: 8d3e0f5a2b4c
Revises: 7c2d9e4f1a3b
Create Date: 2026-12-02 14:20:00.000000

Columns are only added (ALTER TABLE ADD COLUMN on both dialects): rebuilding `users` on SQLite would run
its foreign-key actions (tokens cascade) with foreign keys on.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = "8d3e0f5a2b4c"
down_revision: str | None = "7c2d9e4f1a3b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "auth_tokens", sa.Column("device_label", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True)
    )
    op.add_column(
        "auth_tokens", sa.Column("client_ip", sqlmodel.sql.sqltypes.AutoString(length=45), nullable=True)
    )
    op.add_column("users", sa.Column("deleted_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "deleted_at")
    op.drop_column("auth_tokens", "client_ip")
    op.drop_column("auth_tokens", "device_label")

"""devices as rows (a device token is valid only while its row is), sessions name their device, blocked accounts

Revision ID: b41d7e2c9a10
Revises: 8d3e0f5a2b4c
Create Date: 2026-12-06 20:30:00.000000

Device tokens issued before this revision have no row, so they are no longer recognised: their holders sign in
once more as strangers do and get a token that has one. Columns are added; auth_tokens is copied on SQLite to take its
foreign key (batch mode), users is not (see 8d3e0f5a2b4c).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = "b41d7e2c9a10"
down_revision: str | None = "8d3e0f5a2b4c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("device_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_devices_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("device_hash", name=op.f("uq_devices_device_hash")),
    )
    op.create_index(op.f("ix_devices_user_id"), "devices", ["user_id"], unique=False)
    op.create_index("ix_devices_phone_last_used_at", "devices", ["phone", "last_used_at"], unique=False)
    # Batch mode: SQLite adds a foreign key only by copying the table (nothing references auth_tokens).
    with op.batch_alter_table("auth_tokens") as batch:
        batch.add_column(sa.Column("device_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_auth_tokens_device_id_devices"), "devices", ["device_id"], ["id"], ondelete="SET NULL"
        )
    op.add_column("users", sa.Column("blocked_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "blocked_at")
    # SQLite cannot drop a column with a foreign key: batch mode copies the table (nothing references it).
    with op.batch_alter_table("auth_tokens") as batch:
        batch.drop_constraint(op.f("fk_auth_tokens_device_id_devices"), type_="foreignkey")
        batch.drop_column("device_id")
    op.drop_index("ix_devices_phone_last_used_at", table_name="devices")
    op.drop_index(op.f("ix_devices_user_id"), table_name="devices")
    op.drop_table("devices")

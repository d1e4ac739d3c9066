"""sign-in guards per phone and device, rate counters

Revision ID: 5a1f0c3d2b7e
Revises: cd5bf1b7e9bf
Create Date: 2026-12-01 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = "5a1f0c3d2b7e"
down_revision: str | None = "cd5bf1b7e9bf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in_guards",
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("device", sqlmodel.sql.sqltypes.AutoString(length=22), nullable=False),
        sa.Column("failures", sa.Float(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("phone", "device", name=op.f("pk_sign_in_guards")),
    )
    # Current locks and failure counts carry over as the strangers' bucket of each phone.
    op.execute(
        "INSERT INTO sign_in_guards (phone, device, failures, locked_until, updated_at) "
        "SELECT phone, '', failed_attempts, locked_until, updated_at FROM phone_guards"
    )
    op.drop_table("phone_guards")
    op.create_table(
        "rate_counters",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", "key", "window_start", name=op.f("pk_rate_counters")),
    )


def downgrade() -> None:
    op.drop_table("rate_counters")
    op.create_table(
        "phone_guards",
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("phone", name=op.f("pk_phone_guards")),
    )
    op.execute(
        "INSERT INTO phone_guards (phone, failed_attempts, locked_until, updated_at) "
        "SELECT phone, CAST(failures AS INTEGER), locked_until, updated_at FROM sign_in_guards WHERE device = ''"
    )
    op.drop_table("sign_in_guards")

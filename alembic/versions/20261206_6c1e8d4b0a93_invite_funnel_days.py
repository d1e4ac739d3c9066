"""the invite funnel: per invite code owner and UTC day, links opened, sign-ups and activations (counts)

Revision ID: 6c1e8d4b0a93
Revises: 3f6b2a9c1d7e
Create Date: 2026-12-06 20:24:24.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = "6c1e8d4b0a93"
down_revision: str | None = "3f6b2a9c1d7e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "invite_funnel_days",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("opened", sa.Integer(), nullable=False),
        sa.Column("signed_up", sa.Integer(), nullable=False),
        sa.Column("activated", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_invite_funnel_days_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "day", name=op.f("pk_invite_funnel_days")),
    )


def downgrade() -> None:
    op.drop_table("invite_funnel_days")

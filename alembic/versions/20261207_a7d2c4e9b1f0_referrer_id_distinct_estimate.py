"""PostgreSQL: plan the per-user referral count by the index, however few users invited everyone

The profile's referral count is a subquery correlated to the user (`users.referrer_id = users.id`), which
PostgreSQL plans without knowing the user, from the column's number of distinct values. When a handful of
users invited most of the others, ANALYZE finds few distinct values, the planner expects half the table per
user and counts by scanning the whole table, for every profile read (0.9 ms against 0.08 on 12,632 users).
Telling it that referrer_id has many distinct values (5 % of the rows: ALTER TABLE ... SET (n_distinct), the
documented override) keeps the index-only scan, which is also right for the user with the most referrals.

Revision ID: a7d2c4e9b1f0
Revises: 6c1e8d4b0a93
Create Date: 2026-12-07 03:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a7d2c4e9b1f0"
down_revision: str | None = "6c1e8d4b0a93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE users ALTER COLUMN referrer_id SET (n_distinct = -0.05)")
        op.execute("ANALYZE users")  # the override takes effect at the next ANALYZE


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE users ALTER COLUMN referrer_id RESET (n_distinct)")
        op.execute("ANALYZE users")

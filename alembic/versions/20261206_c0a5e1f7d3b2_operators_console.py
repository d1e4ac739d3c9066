"""operators of the console (users.is_admin) and the indexes its lists and figures read by

Revision ID: c0a5e1f7d3b2
Revises: e5a91c3f7d20
Create Date: 2026-12-06 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "c0a5e1f7d3b2"
down_revision: str | None = "e5a91c3f7d20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("is_admin", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_index("ix_users_created_at", "users", ["created_at"], unique=False)
    op.create_index("ix_users_last_login_at", "users", ["last_login_at"], unique=False)
    op.create_index("ix_users_email_lower", "users", [sa.text("lower(email)")], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        # The console's search by the start of a name: LIKE 'prefix%' on lower(name), whatever the collation.
        op.execute("CREATE INDEX ix_users_name_prefix ON users (lower(name) text_pattern_ops)")
    op.create_index("ix_users_invite_activated_at", "users", ["invite_activated_at"], unique=False)
    op.create_index("ix_sign_in_guards_locked_until", "sign_in_guards", ["locked_until"], unique=False)
    op.create_index("ix_audit_events_event_created_at", "audit_events", ["event", "created_at"], unique=False)
    op.create_index(
        "ix_audit_events_client_ip_created_at", "audit_events", ["client_ip", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_audit_events_client_ip_created_at", table_name="audit_events")
    op.drop_index("ix_audit_events_event_created_at", table_name="audit_events")
    op.drop_index("ix_sign_in_guards_locked_until", table_name="sign_in_guards")
    op.drop_index("ix_users_invite_activated_at", table_name="users")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_users_name_prefix")
    op.drop_index("ix_users_email_lower", table_name="users")
    op.drop_index("ix_users_last_login_at", table_name="users")
    op.drop_index("ix_users_created_at", table_name="users")
    op.drop_column("users", "is_admin")

"""audit trail refuses DELETE too: audit_purges records every sanctioned removal

Revision ID: 7c2d9e4f1a3b
Revises: 5a1f0c3d2b7e
Create Date: 2026-12-02 13:30:00.000000

audit_events: UPDATE is refused except masking a phone (a deleted account: only `phone` changes, to a value
with `*`, from one without); DELETE is refused except for rows created before the cutoff of an unfinished
audit_purges row (the purge inserts it, deletes and finishes it in one transaction); TRUNCATE is refused.
audit_purges: DELETE and TRUNCATE refused; UPDATE only finishes an unfinished run.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = "7c2d9e4f1a3b"
down_revision: str | None = "5a1f0c3d2b7e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFUSED = "audit_events is append-only"
PURGES_REFUSED = "audit_purges is append-only"

# Shared by both dialects (SQLite's `IS` and PostgreSQL's `IS NOT DISTINCT FROM` are spelled per dialect).
_MASKING_ONLY = (
    "NEW.id {same} OLD.id AND NEW.created_at {same} OLD.created_at AND NEW.event {same} OLD.event"
    " AND NEW.user_id {same} OLD.user_id AND NEW.client_ip {same} OLD.client_ip AND NEW.detail {same} OLD.detail"
    " AND COALESCE(OLD.phone, '*') NOT LIKE '%*%' AND COALESCE(NEW.phone, '') LIKE '%*%'"
    " AND length(NEW.phone) <= length(OLD.phone)"
)
_IN_A_PURGE = (
    "EXISTS (SELECT 1 FROM audit_purges WHERE audit_purges.finished_at IS NULL"
    " AND OLD.created_at < audit_purges.removed_before)"
)
_FINISHING_A_RUN = (
    "OLD.finished_at IS NULL AND NEW.finished_at IS NOT NULL AND NEW.id {same} OLD.id"
    " AND NEW.started_at {same} OLD.started_at AND NEW.removed_before {same} OLD.removed_before"
    " AND NEW.reason {same} OLD.reason"
)


def upgrade() -> None:
    op.create_table(
        "audit_purges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("removed_before", sa.DateTime(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("removed", sa.Integer(), nullable=True),
        sa.Column("removed_by_event", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_purges")),
    )
    if op.get_bind().dialect.name == "postgresql":
        same = "IS NOT DISTINCT FROM"
        op.execute(
            "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF TG_OP = 'UPDATE' AND {_MASKING_ONLY.format(same=same)} THEN RETURN NEW; END IF; "
            f"IF TG_OP = 'DELETE' AND {_IN_A_PURGE} THEN RETURN OLD; END IF; "
            f"RAISE EXCEPTION '{REFUSED}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
        op.execute(
            "CREATE FUNCTION audit_purges_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF TG_OP = 'UPDATE' AND {_FINISHING_A_RUN.format(same=same)} THEN RETURN NEW; END IF; "
            f"RAISE EXCEPTION '{PURGES_REFUSED}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_purges_no_change BEFORE UPDATE OR DELETE ON audit_purges "
            "FOR EACH ROW EXECUTE FUNCTION audit_purges_append_only()"
        )
        # Row triggers do not see TRUNCATE.
        op.execute(
            "CREATE FUNCTION refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
        for table in ("audit_events", "audit_purges"):
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate()"
            )
    else:
        same = "IS"
        op.execute("DROP TRIGGER audit_events_no_update")
        op.execute(
            "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
            f"WHEN NOT ({_MASKING_ONLY.format(same=same)}) "
            f"BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END"
        )
        op.execute(
            f"CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events WHEN NOT {_IN_A_PURGE} "
            f"BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END"
        )
        op.execute(
            "CREATE TRIGGER audit_purges_no_update BEFORE UPDATE ON audit_purges "
            f"WHEN NOT ({_FINISHING_A_RUN.format(same=same)}) "
            f"BEGIN SELECT RAISE(ABORT, '{PURGES_REFUSED}'); END"
        )
        op.execute(
            "CREATE TRIGGER audit_purges_no_delete BEFORE DELETE ON audit_purges "
            f"BEGIN SELECT RAISE(ABORT, '{PURGES_REFUSED}'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("audit_events", "audit_purges"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP TRIGGER IF EXISTS audit_purges_no_change ON audit_purges")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS refuse_truncate()")
        op.execute("DROP FUNCTION IF EXISTS audit_purges_append_only()")
        op.execute(
            "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{REFUSED}'; END $$"
        )
    else:
        for trigger in ("audit_purges_no_delete", "audit_purges_no_update", "audit_events_no_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TRIGGER audit_events_no_update")
        op.execute(
            "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
            f"BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END"
        )
    op.drop_table("audit_purges")

"""The database: engines and sessions, transactions (serialised writers), migrations on start."""

from referral_app.core.db.engine import create_db_engine, dispose_engines, get_engine, session_scope
from referral_app.core.db.migrations import alembic_config, migrate, wait_for_database
from referral_app.core.db.transactions import (
    is_database_outage,
    joined_reads,
    lock_id,
    rowcount,
    transaction,
)

__all__ = [
    "alembic_config",
    "create_db_engine",
    "dispose_engines",
    "get_engine",
    "is_database_outage",
    "joined_reads",
    "lock_id",
    "migrate",
    "rowcount",
    "session_scope",
    "transaction",
    "wait_for_database",
]

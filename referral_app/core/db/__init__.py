"""The database: engines and sessions, transactions (serialised writers), migrations on start."""

from referral_app.core.db.engine import (
    MAX_CONNECTIONS,
    create_db_engine,
    dispose_engines,
    get_engine,
    get_loop_sqlite_engine,
    loop_sqlite_connection,
    session_scope,
)
from referral_app.core.db.migrations import alembic_config, migrate, wait_for_database
from referral_app.core.db.prepared import PreparedRead
from referral_app.core.db.statements import InsertUnlessPresent
from referral_app.core.db.transactions import (
    describe_database_error,
    is_database_outage,
    is_sqlite_busy,
    joined_reads,
    lock_id,
    read_session,
    rowcount,
    transaction,
)

__all__ = [
    "MAX_CONNECTIONS",
    "InsertUnlessPresent",
    "PreparedRead",
    "alembic_config",
    "create_db_engine",
    "describe_database_error",
    "dispose_engines",
    "get_engine",
    "get_loop_sqlite_engine",
    "is_database_outage",
    "is_sqlite_busy",
    "joined_reads",
    "lock_id",
    "loop_sqlite_connection",
    "migrate",
    "read_session",
    "rowcount",
    "session_scope",
    "transaction",
    "wait_for_database",
]

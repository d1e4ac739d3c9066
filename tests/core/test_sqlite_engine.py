"""SQLite connections, of the pooled engine and of the event loop's: WAL (readers never wait for the writer),
every commit synced (durability as PostgreSQL's synchronous_commit=on), foreign keys enforced, and the busy
timeout each engine is made with."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from referral_app.core.db import create_db_engine
from referral_app.core.db.engine import SQLITE_BUSY_TIMEOUT_MS

FULL = 2  # PRAGMA synchronous's answer for FULL (NORMAL is 1)


def pragmas(engine: sa.Engine) -> tuple[str, int, int, int]:
    with engine.connect() as connection:
        return (
            connection.exec_driver_sql("PRAGMA journal_mode").scalar_one(),
            connection.exec_driver_sql("PRAGMA synchronous").scalar_one(),
            connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one(),
            connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one(),
        )


def test_every_connection_is_wal_synced_at_each_commit_with_foreign_keys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    pooled, loop = create_db_engine(url), create_db_engine(url, busy_timeout_ms=0)
    try:
        assert pragmas(pooled) == ("wal", FULL, 1, SQLITE_BUSY_TIMEOUT_MS)
        assert pragmas(loop) == ("wal", FULL, 1, 0)
    finally:
        pooled.dispose()
        loop.dispose()

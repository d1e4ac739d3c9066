"""Engines (one per database URL and process) and sessions."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from referral_app.core.config import Settings, get_settings

# An execution option: which BEGIN the SQLite connection emits (DEFERRED, or IMMEDIATE for writers).
SQLITE_BEGIN_OPTION = "referral_app_sqlite_begin"

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def create_db_engine(url: str, *, connect_timeout: float = 5.0) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=20,
            max_overflow=20,
        )
        _configure_sqlite(engine)
        return engine
    return sa.create_engine(
        url,
        pool_size=10,
        max_overflow=30,
        pool_pre_ping=True,
        pool_timeout=connect_timeout,
        connect_args={"connect_timeout": max(1, int(connect_timeout))},
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, emit BEGIN, so write transactions can be IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql(f"BEGIN {conn.get_execution_options().get(SQLITE_BEGIN_OPTION, 'DEFERRED')}")


def get_engine(settings: Settings | None = None) -> Engine:
    settings = settings or get_settings()
    url = settings.database_url
    with _engines_lock:
        if url not in _engines:
            _engines[url] = create_db_engine(url, connect_timeout=settings.database_connect_timeout)
        return _engines[url]


def dispose_engines() -> None:
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


@contextlib.contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session for one or more service calls; each service call runs its own transactions on it."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        yield session

"""Engines (one per database URL and process) and sessions; and for SQLite reads run on the event loop (see
services/bridge.py `run_reads`), an engine whose connections never wait for a lock."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from referral_app.core.config import Settings, get_settings
from referral_app.core.db.prepared import run_on_driver

# An execution option: which BEGIN the SQLite connection emits (DEFERRED, or IMMEDIATE for writers).
SQLITE_BEGIN_OPTION = "referral_app_sqlite_begin"

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


SQLITE_BUSY_TIMEOUT_MS = 30_000
# Connections one process may hold, and so the threads services/bridge.py runs database work in.
MAX_CONNECTIONS = 40


def create_db_engine(
    url: str, *, connect_timeout: float = 5.0, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS
) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
            pool_size=20,
            max_overflow=MAX_CONNECTIONS - 20,
            hide_parameters=True,  # a failed statement's log line never shows a token's hash or a phone
        )
        _configure_sqlite(engine, busy_timeout_ms)
        return engine
    engine = sa.create_engine(
        url,
        pool_size=10,
        max_overflow=MAX_CONNECTIONS - 10,
        pool_timeout=connect_timeout,
        connect_args={"connect_timeout": max(1, int(connect_timeout))},
        hide_parameters=True,
    )
    _ping_idle_connections(engine)
    return engine


# A pooled connection idle longer than this is pinged before use; one used within it is not.
IDLE_PING_SECONDS = 1.0


def _ping_idle_connections(engine: Engine) -> None:
    """SQLAlchemy's pool_pre_ping, for idle connections only. Under load every connection went back to the pool
    a moment ago, and pinging it cost a round trip per transaction (a quarter of a profile read's time on this
    machine: docs/benchmarks.md); a connection idle for a while, which the server or a proxy may have closed
    meanwhile, is still pinged and replaced when dead (raising DisconnectionError in a checkout listener is the
    pool's documented way to ask for a fresh connection). One that dies within the second fails its request
    as an outage, and that disconnect makes SQLAlchemy replace every connection of the pool."""

    @event.listens_for(engine.pool, "connect")
    @event.listens_for(engine.pool, "checkin")
    def _used(_dbapi_connection: Any, record: Any) -> None:
        record.info["used_at"] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("used_at", 0.0) < IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise sa.exc.DisconnectionError(str(exc)) from exc


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, emit BEGIN, so write transactions can be IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # Every commit synced to disk, as PostgreSQL's synchronous_commit=on: in WAL mode, NORMAL may lose the
        # last commits (a sign-in, a spent code) to a power cut. Measured here: 0.21-0.24 ms per commit.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    # BEGIN on the driver's cursor (run_on_driver: cursor listeners see it, errors are SQLAlchemy's): through
    # exec_driver_sql, SQLAlchemy's execution work made it cost more than the read it begins (GET
    # /api/v1/profile served 1,780-1,957 req/s that way against 1,990-2,072: docs/benchmarks.md).
    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        run_on_driver(conn, f"BEGIN {conn.get_execution_options().get(SQLITE_BEGIN_OPTION, 'DEFERRED')}")


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
        for connection in _held_loop_connections.values():
            connection.close()
        _held_loop_connections.clear()
        for engine in _loop_sqlite_engines.values():
            engine.dispose()
        _loop_sqlite_engines.clear()


# SQLite read on the event loop: in WAL mode a reader never waits for a writer, and the rare moment it would
# (say, the WAL being reset) must not stall the loop, so it fails at once instead and the bridge retries in a
# worker thread. Only the loop's thread uses these connections, one call at a time.
_loop_sqlite_engines: dict[str, Engine] = {}


def get_loop_sqlite_engine(settings: Settings | None = None) -> Engine:
    url = (settings or get_settings()).database_url
    with _engines_lock:
        if url not in _loop_sqlite_engines:
            _loop_sqlite_engines[url] = create_db_engine(url, busy_timeout_ms=0)
        return _loop_sqlite_engines[url]


# Each thread that reads on its event loop holds one of those connections for good: checking one out of the
# pool and back in for every read cost a quarter of a profile read (in-process 138-146 -> 106-111 us).
_held_loop_connections: dict[tuple[str, int], sa.Connection] = {}


def loop_sqlite_connection(settings: Settings | None = None) -> sa.Connection:
    """The calling thread's held connection of get_loop_sqlite_engine. The loop's reads never await, so they
    use it one at a time, each in a read transaction of its own (core/db read_session)."""
    url = (settings or get_settings()).database_url
    key = (url, threading.get_ident())
    connection = _held_loop_connections.get(key)
    if connection is None:
        engine = get_loop_sqlite_engine(settings)
        with _engines_lock:
            connection = _held_loop_connections[key] = engine.connect()
    return connection


@contextlib.contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session for one or more service calls; each service call runs its own transactions on it."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        yield session

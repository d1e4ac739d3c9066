"""Engine, sessions, write transactions with locks, and applying migrations on start.

Concurrency model: every service function runs one transaction on the session it is given.
Functions that read-then-write start it with `begin_write(session, *keys)`, which serialises them:
- PostgreSQL: transaction-scoped advisory locks on the given keys (taken in sorted order, so no deadlocks);
- SQLite: `BEGIN IMMEDIATE`, which takes the database's single write lock up front (keys are not needed),
  after queueing on a per-process lock so that this process's writers take turns in order.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from referral_app.core.config import PROJECT_ROOT, Settings, get_settings
from referral_app.core.errors import ServiceUnavailable

T = TypeVar("T")

log = logging.getLogger(__name__)

_SQLITE_BEGIN_OPTION = "referral_app_sqlite_begin"
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
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # Let SQLAlchemy, not pysqlite, emit BEGIN, so write transactions can be IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        conn.exec_driver_sql(f"BEGIN {conn.get_execution_options().get(_SQLITE_BEGIN_OPTION, 'DEFERRED')}")


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
    """A session for one or more service calls; each service call commits or rolls back itself."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        yield session


async def run_with_session(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call a service function `fn(session, *args)` in a worker thread, for async callers (Reflex states,
    async routes), so database work never blocks the event loop. A lost database becomes ServiceUnavailable."""

    def call() -> T:
        with session_scope() as session:
            return fn(session, *args, **kwargs)

    try:
        return await anyio.to_thread.run_sync(call)
    except (sa.exc.OperationalError, sa.exc.TimeoutError) as exc:
        log.error("database unavailable: %s", exc.__class__.__name__)
        raise ServiceUnavailable() from exc


def begin_write(session: Session, *lock_keys: str) -> None:
    """Start a serialised read-then-write transaction.

    A read-only transaction left open on the session (e.g. by loading an attribute) is ended first;
    unsaved changes are a programming error, since they would be silently dropped.
    """
    if session.in_transaction():
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("begin_write() would discard unsaved changes: commit them first")
        session.rollback()
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        _queue_sqlite_writer(session, bind)
        try:
            session.connection(execution_options={_SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        except BaseException:
            _release_sqlite_writer(session)
            raise
        return
    for key in sorted(set(lock_keys)):
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_id(key)})


# SQLite has one write lock, and a writer that finds it taken polls in SQLite's busy handler, sleeping
# 1, 2, 5, ... up to 100 ms between tries: under many concurrent writers the lock sits free while they sleep,
# and it goes to whoever wakes first, so some writers wait for seconds (p99 of 5.5 s for logins at 32
# connections in `make bench`). So the writers of this process first queue on a lock of their own, handed
# over the moment the previous write transaction ends; SQLite's lock still serialises writers across
# processes. Held from begin_write to the end of the session's transaction (commit, rollback or close).
_SQLITE_WRITER_KEY = "referral_app_sqlite_writer"
_SQLITE_WRITER_TIMEOUT = 30.0  # as long as SQLite's busy_timeout; past it, SQLite's own lock decides
_sqlite_writer_locks: dict[str, threading.Lock] = {}  # one per database file


def _queue_sqlite_writer(session: Session, bind: Any) -> None:
    url = str(getattr(bind, "engine", bind).url)
    with _engines_lock:
        lock = _sqlite_writer_locks.setdefault(url, threading.Lock())
    if lock.acquire(timeout=_SQLITE_WRITER_TIMEOUT):
        session.info[_SQLITE_WRITER_KEY] = lock


def _release_sqlite_writer(session: Session) -> None:
    lock = session.info.pop(_SQLITE_WRITER_KEY, None)
    if lock is not None:
        lock.release()


@event.listens_for(Session, "after_transaction_end")
def _end_sqlite_writer(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the session's own transaction, not a savepoint inside it
        _release_sqlite_writer(session)


def _lock_id(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


# --- migrations -------------------------------------------------------------------------------------------

ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"
_MIGRATION_LOCK_ID = _lock_id("referral_app:migrations")


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    config.attributes["database_url"] = url
    return config


def wait_for_database(engine: Engine, *, attempts: int = 30, delay: float = 1.0) -> None:
    """Bounded retry while the database starts (containers start in any order); raises after the last try."""
    where = engine.url.render_as_string(hide_password=True)
    for attempt in range(1, attempts + 1):
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.OperationalError as exc:
            reason = _first_line(exc.orig or exc)
            if attempt == attempts:
                log.error("database %s unreachable after %d attempts, giving up: %s", where, attempts, reason)
                raise
            log.warning(
                "waiting for database %s (attempt %d/%d, retrying in %gs): %s",
                where,
                attempt,
                attempts,
                delay,
                reason,
            )
            time.sleep(delay)
        else:
            log.info("database %s is reachable%s", where, f" after {attempt} attempts" if attempt > 1 else "")
            return


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def migrate(settings: Settings | None = None) -> None:
    """Bring the schema to the newest revision. Safe when several processes start at once."""
    from alembic import command

    settings = settings or get_settings()
    engine = get_engine(settings)
    wait_for_database(engine, attempts=settings.database_wait_attempts)
    config = alembic_config(settings.database_url)
    if engine.dialect.name == "sqlite":
        lock_path = Path(engine.url.database or "sqlite-memory").with_suffix(".migrate.lock")
        with open(lock_path, "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            command.upgrade(config, "head")
        return
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK_ID})
        conn.commit()
        try:
            command.upgrade(config, "head")
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK_ID})
            conn.commit()

"""The one way services run a transaction: `with transaction(session, *lock_keys, write=True): ...`.

Begin (writers serialised), commit at the end of the block, roll back on any exception. A call that only reads
runs in `read_session` instead: one read transaction for the whole call, which every read inside joins. Writers:
- PostgreSQL: transaction-scoped advisory locks on the given keys (taken in sorted order, so no deadlocks);
- SQLite: `BEGIN IMMEDIATE`, which takes the database's single write lock up front (keys are not needed),
  after queueing on a per-process lock, so that this process's writers take SQLite's lock the moment it is
  free rather than polling for it (a plain lock: whichever waiter wakes first, not first come first served).
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session

from referral_app.core.db.engine import SQLITE_BEGIN_OPTION


@contextlib.contextmanager
def transaction(session: Session, *lock_keys: str, write: bool = False) -> Iterator[Session]:
    """One transaction on `session`. `write=True` (implied by lock keys) serialises it with every other
    writer holding one of the same keys (all writers, on SQLite). In a read_session or inside `joined_reads`, a
    read joins the read transaction already open."""
    if session.info.get(_READ_SESSION):
        if write or lock_keys:
            raise RuntimeError("a write transaction in a read session: run writes with run_with_session")
        yield session  # the read session's transaction: it ends with the session
        _refuse_changes(session)
        return
    if not (write or lock_keys) and session.info.get(_JOINED_READS):
        yield from _joined_read(session)
        return
    _end_idle_transaction(session)
    if write or lock_keys:
        _begin_write(session, lock_keys)
    else:
        _begin_read(session)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


_JOINED_READS = "referral_app_joined_reads"
_READ_SESSION = "referral_app_read_session"


@contextlib.contextmanager
def read_session(connection: sa.Connection) -> Iterator[Session]:
    """A session for a call that only reads (services/bridge.py run_reads): one read transaction on
    `connection`, begun on Core's connection and rolled back at the end of the block (nothing a read session
    does is ever kept; it never flushes by itself), which every read transaction inside joins: one BEGIN for
    the call, and on SQLite one snapshot. A write transaction is refused before it begins: a programming error,
    since the call belongs where writers may wait (run_with_session). The session joins the transaction without
    managing it, so its ORM reads work as always, while PreparedRead runs on the connection directly: the
    session's own transaction bookkeeping cost more than the read it wraps (a profile read on SQLite,
    in-process: 74-81 -> 52-56 us)."""
    if connection.dialect.name == "postgresql":
        connection.execution_options(**_AUTOCOMMIT)
    read = connection.begin()
    try:
        with Session(connection, autoflush=False, expire_on_commit=False) as session:
            session.info[_READ_SESSION] = True
            yield session
    finally:
        if read.is_active:  # a change refused inside has rolled it back already
            read.rollback()


@contextlib.contextmanager
def joined_reads(session: Session) -> Iterator[None]:
    """For a call run with run_with_session that reads in several service calls (the token check, then the
    export) and may write: on SQLite their read transactions are one, begun by the first and ended with the
    block, so it pays one BEGIN and one COMMIT instead of one per call, and every read sees the same snapshot.
    On PostgreSQL reads run in autocommit (`_begin_read`): each statement has a snapshot of its own, as under
    READ COMMITTED it would anyway. A write transaction inside still runs as always: it ends the shared read
    first, and the next read begins another. Only for callers whose reads write nothing (a read transaction's
    unsaved change is refused). In a read session it changes nothing: the call's reads are one transaction
    already."""
    if session.info.get(_READ_SESSION):  # its reads are one transaction already
        yield
        return
    session.info[_JOINED_READS] = True
    try:
        yield
        if session.in_transaction():
            session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.info.pop(_JOINED_READS, None)


def _joined_read(session: Session) -> Iterator[Session]:
    if not session.in_transaction():
        _begin_read(session)
    try:
        yield session  # the open read transaction, or the one just begun
    except BaseException:
        session.rollback()  # as a transaction of its own would: nothing half-read carries on
        raise
    _refuse_changes(session)


def _refuse_changes(session: Session) -> None:
    if session.new or session.dirty or session.deleted:
        session.rollback()
        raise RuntimeError("a read transaction made changes: use transaction(..., write=True)")


_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6


def _sqlite_primary_code(exc: BaseException) -> int | None:
    code = getattr(getattr(exc, "orig", None), "sqlite_errorcode", None)
    return code & 0xFF if isinstance(exc, sa.exc.OperationalError) and isinstance(code, int) else None


def is_sqlite_busy(exc: BaseException) -> bool:
    """SQLite answered SQLITE_BUSY (any of its extended codes): another connection holds what was needed."""
    return _sqlite_primary_code(exc) == _SQLITE_BUSY


# PostgreSQL's SQLSTATEs of an outage: class 08 (connection exception), 57P01-57P03 (the server shutting down,
# crashed, starting) and 53300 (too many connections). A psycopg error without one is the client's own: the
# connection failed or was lost. Everything else (a missing table, a full disk, a bad statement) is a defect.
_POSTGRES_OUTAGE_STATES = ("08", "57P0", "53300")
_NO_SQLSTATE = object()


def is_database_outage(exc: BaseException) -> bool:
    """The database cannot be reached or is busy: a lost or refused connection, an exhausted pool, SQLite's
    write lock held too long. Nothing was changed and the call may be retried. Any other database error is
    not an outage (see describe_database_error)."""
    if isinstance(exc, sa.exc.TimeoutError):
        return True
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    if exc.connection_invalidated or _sqlite_primary_code(exc) in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return True
    sqlstate = getattr(exc.orig, "sqlstate", _NO_SQLSTATE)
    if sqlstate is _NO_SQLSTATE or not isinstance(exc, sa.exc.OperationalError):
        return False
    return sqlstate is None or (isinstance(sqlstate, str) and sqlstate.startswith(_POSTGRES_OUTAGE_STATES))


def describe_database_error(exc: BaseException) -> str:
    """The exception's class and the driver's message, for the log: never SQLAlchemy's rendering of it, which
    carries the statement's parameters (phone numbers, names)."""
    orig = getattr(exc, "orig", None)
    if orig is None:
        return f"{exc.__class__.__name__}: {exc}"
    diag = getattr(orig, "diag", None)  # psycopg: the primary message only, without DETAIL (it quotes values)
    message = getattr(diag, "message_primary", None) or str(orig).split("\n", 1)[0]
    return f"{exc.__class__.__name__} ({orig.__class__.__module__}.{orig.__class__.__qualname__}): {message}"


def rowcount(result: sa.Result[Any]) -> int:
    """Rows an UPDATE or DELETE run through a session matched (the session types it as a plain Result)."""
    return cast("sa.CursorResult[Any]", result).rowcount


def lock_id(key: str) -> int:
    """A 64-bit advisory lock number for a text key."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


def _end_idle_transaction(session: Session) -> None:
    # A read left open on the session (e.g. by loading an attribute) is ended first; unsaved changes are a
    # programming error, since they would be silently dropped.
    if session.in_transaction():
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("a new transaction would discard unsaved changes: commit them first")
        session.rollback()


# PostgreSQL reads run in autocommit: under READ COMMITTED (the default, kept) each statement takes its own
# snapshot whether or not it is in a transaction, so BEGIN and COMMIT bought a read nothing but two round trips
# (two of a profile read's six). Writers keep their transactions (`_begin_write`). SQLite keeps its read
# transaction: there it is what gives a read's statements one snapshot.
_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


def _begin_read(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options=_AUTOCOMMIT)


# Every key's lock in one round trip, taken in the order given (ORDER BY ordinality: PostgreSQL evaluates a
# volatile target list after the sort).
_ADVISORY_LOCKS = sa.text(
    "SELECT pg_advisory_xact_lock(t.id) FROM unnest(CAST(:ids AS bigint[])) WITH ORDINALITY AS t(id, n) ORDER BY t.n"
)


def _begin_write(session: Session, lock_keys: tuple[str, ...]) -> None:
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        _queue_sqlite_writer(session, bind)
        try:
            session.connection(execution_options={SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        except BaseException:
            _release_sqlite_writer(session)
            raise
        return
    try:
        if lock_keys:
            ids = [lock_id(key) for key in sorted(set(lock_keys))]
            session.connection().execute(_ADVISORY_LOCKS, {"ids": ids})
    except BaseException:
        session.rollback()
        raise


# SQLite has one write lock, and a writer that finds it taken polls in SQLite's busy handler, sleeping
# 1, 2, 5, ... up to 100 ms between tries: under many concurrent writers the lock sits free while they sleep,
# and it goes to whoever wakes first, so some writers wait for seconds (p99 of 5.5 s for logins at 32
# connections in `make bench`). So the writers of this process first queue on a lock of their own, handed
# over the moment the previous write transaction ends; SQLite's lock still serialises writers across
# processes. Held from the start of a write transaction to its end (commit, rollback or close).
_SQLITE_WRITER_KEY = "referral_app_sqlite_writer"
_SQLITE_WRITER_TIMEOUT = 30.0  # as long as SQLite's busy_timeout; past it, SQLite's own lock decides
_sqlite_writer_locks: dict[str, threading.Lock] = {}  # one per database file
_sqlite_writer_locks_guard = threading.Lock()


def _queue_sqlite_writer(session: Session, bind: Any) -> None:
    url = str(getattr(bind, "engine", bind).url)
    with _sqlite_writer_locks_guard:
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

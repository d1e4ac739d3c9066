"""Calling service functions from async code (the web app's states, async routes, the lifespan).

`await run_with_session(users.get_profile, user_id=7)` runs `users.get_profile(session, user_id=7)` in a
worker thread with a session of its own, so database work never blocks the event loop; the arguments after
the session are checked against the service's own signature. A lost database becomes ServiceUnavailable.
Every write goes this way.

`await run_reads(...)` is for calls that only read (the token check, profile pages): the call runs in one read
transaction, and a write transaction inside it is refused (core/db read_session). This is the one place that
decides where reads run. On SQLite they run on the event loop: a read of the local file never waits for writers
in WAL mode, and the trip to a worker thread costs more than the read itself (docs/benchmarks.md). The rare
moment SQLite answers busy (a checkpoint) is not waited for on the loop: the call runs again in a worker
thread, which nothing of the first try changed, since it only read. On PostgreSQL every call goes to a worker
thread: each statement is a network round trip, and psycopg's async mode through SQLAlchemy's asyncio layer
was measured slower than the thread (docs/benchmarks.md); those threads are READ_THREADS, apart from the
writers'.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Concatenate, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlmodel import Session

from referral_app.core.config import get_settings
from referral_app.core.db import (
    MAX_CONNECTIONS,
    describe_database_error,
    get_engine,
    is_database_outage,
    is_sqlite_busy,
    loop_sqlite_connection,
    read_session,
    session_scope,
)
from referral_app.services.errors import ServiceUnavailable

P = ParamSpec("P")
T = TypeVar("T")

log = logging.getLogger(__name__)

# Database work runs as asyncio.to_thread runs a function (in a copy of the caller's context, so log lines keep
# the request's id), on threads of its own: one per connection the engine's pool may hand out. Not anyio's
# to_thread, whose backend lookups and cancel scope cost the event loop more than the rest of a PostgreSQL
# profile read's hop (GET /api/v1/profile 1,026-1,062 -> 1,208-1,240 req/s). A caller cancelled while its call
# runs is cancelled at once; the call itself still finishes, and its transaction commits or rolls back whole.
_THREADS = ThreadPoolExecutor(max_workers=MAX_CONNECTIONS, thread_name_prefix="database")
# PostgreSQL reads take a few threads of their own: a read holds the GIL for most of its time, so more threads
# than that only contend for it. GET /api/v1/profile at 16 connections, served, four alternating rounds: 1,034-
# 1,220 req/s (median 1,083) on the 40 threads, 1,238-1,292 (median 1,257) on 4. Writes keep the 40, since they
# wait on locks and on the disk.
READ_THREADS = 4
_READ_THREADS = ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="database-read")


async def run_with_session(fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
    def run() -> T:
        with session_scope() as session:
            return fn(session, *args, **kwargs)

    return await _in_thread(_THREADS, run)


async def run_reads(fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
    def run(connection: sa.Connection) -> T:
        with read_session(connection) as session:
            return fn(session, *args, **kwargs)

    def run_pooled() -> T:
        with get_engine().connect() as connection:
            return run(connection)

    settings = get_settings()
    if settings.is_sqlite:
        try:
            return run(loop_sqlite_connection(settings))
        except Exception as exc:
            if not is_sqlite_busy(exc):
                _raise_if_outage(exc)
                raise
    return await _in_thread(_READ_THREADS, run_pooled)


async def _in_thread(threads: ThreadPoolExecutor, run: Callable[[], T]) -> T:
    try:
        return await asyncio.get_running_loop().run_in_executor(threads, contextvars.copy_context().run, run)
    except Exception as exc:
        _raise_if_outage(exc)
        raise


def _raise_if_outage(exc: Exception) -> None:
    if is_database_outage(exc):
        log.error("database unavailable: %s", describe_database_error(exc))
        raise ServiceUnavailable() from exc

"""run_reads: on SQLite, service calls that read run on the event loop; one that finds SQLite busy runs again in
a worker thread, and one that tries to write is refused before it writes (writes are run_with_session's). On
PostgreSQL every call runs in a worker thread. Errors come out as from run_with_session."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, func, select

from referral_app.core import log_setup
from referral_app.core.config import Settings, set_settings
from referral_app.core.db import MAX_CONNECTIONS, dispose_engines, get_engine, transaction
from referral_app.models import AuditEvent, AuthToken
from referral_app.services import audit, auth, login_codes
from referral_app.services.bridge import READ_THREADS, run_reads, run_with_session
from referral_app.services.errors import NotAuthenticated, ServiceUnavailable
from tests.helpers import FakeClock, make_settings
from tests.support.ports import free_port

PHONE = "+79123456789"


def _events(session: Session) -> int:
    with transaction(session):
        return session.exec(select(func.count()).select_from(AuditEvent)).one()


class Calls:
    """A service call that notes the thread of every run."""

    def __init__(self, write: bool = False) -> None:
        self.threads: list[int] = []
        self.write = write

    def __call__(self, session: Session, *, phone: str) -> int:
        self.threads.append(threading.get_ident())
        counted = _events(session)
        if self.write:
            audit.record_alone(session, audit.Event.LOGIN, phone=phone)
        return counted


class Held:
    """Service calls that each hold their thread until released, counting how many run at once."""

    def __init__(self) -> None:
        self.running = self.most = 0
        self.release = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, session: Session) -> int:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.release.wait(timeout=30)
        with self.lock:
            self.running -= 1
        return _events(session)

    async def until_running(self, count: int) -> None:
        """Until `count` calls run at once, and a moment more, for one beyond it to start if it could."""
        while True:
            with self.lock:
                if self.running >= count:
                    break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)


SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@SQLITE_ONLY
async def test_sqlite_reads_run_on_the_event_loop_thread(settings: Settings) -> None:
    reader = Calls()
    assert await run_reads(reader, phone=PHONE) == 0
    assert reader.threads == [threading.get_ident()]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_postgresql_reads_run_in_a_worker_thread(settings: Settings) -> None:
    reader = Calls()
    assert await run_reads(reader, phone=PHONE) == 0
    assert len(reader.threads) == 1 and reader.threads[0] != threading.get_ident()


@SQLITE_ONLY
async def test_a_call_that_writes_is_refused_and_writes_nothing(settings: Settings, session: Session) -> None:
    writer = Calls(write=True)
    with pytest.raises(RuntimeError, match="run_with_session"):
        await run_reads(writer, phone=PHONE)
    assert writer.threads == [threading.get_ident()]  # not run again anywhere
    assert _events(session) == 0


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_postgresql_reads_that_write_are_refused_too(settings: Settings, session: Session) -> None:
    writer = Calls(write=True)
    with pytest.raises(RuntimeError, match="run_with_session"):
        await run_reads(writer, phone=PHONE)
    assert len(writer.threads) == 1
    assert _events(session) == 0


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_postgresql_reads_take_turns_on_their_threads_and_never_hold_up_a_write(
    settings: Settings, session: Session
) -> None:
    held = Held()
    reads = [asyncio.ensure_future(run_reads(held)) for _ in range(READ_THREADS + 3)]
    await held.until_running(READ_THREADS)  # every read thread busy; the other reads queue
    # A write while every read thread is held: it runs on the writers' threads and commits.
    await run_with_session(audit.record_alone, audit.Event.LOGIN, phone=PHONE)
    assert held.running == READ_THREADS and not any(r.done() for r in reads)
    held.release.set()
    assert await asyncio.gather(*reads) == [1] * (READ_THREADS + 3)
    assert held.most == READ_THREADS


async def test_the_token_check_reads_and_refreshes_last_used_as_a_write_of_its_own(
    settings: Settings, session: Session, clock: FakeClock
) -> None:
    code = login_codes.issue_code(session, phone=PHONE, client_ip="203.0.113.7", settings=settings)
    signed_in = auth.login_with_code(session, phone=PHONE, code=code, client_ip="203.0.113.7")
    with transaction(session):
        first_used = session.exec(select(AuthToken.last_used_at)).one()
    clock.advance(settings.token_touch_interval_seconds + 1)
    assert await auth.authenticated(signed_in.access_token) == signed_in.user_id
    with transaction(session):
        assert session.exec(select(AuthToken.last_used_at)).one() == clock.now != first_used
    with pytest.raises(NotAuthenticated):  # a service error comes out as it is
        await auth.authenticated("rfa_unknown")


async def test_a_busy_sqlite_database_is_read_in_a_worker_thread(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    # A connection in EXCLUSIVE locking mode holds the database against even WAL readers (it can take that lock
    # only while no other connection is open: hence a database of the test's own).
    locker = sqlite3.connect(path, isolation_level=None)
    set_settings(make_settings(f"sqlite:///{path}"))
    threads: list[int] = []

    def count(session: Session) -> int:
        threads.append(threading.get_ident())
        with transaction(session):
            return session.execute(sa.text("SELECT count(*) FROM t")).scalar_one()

    try:
        locker.execute("PRAGMA journal_mode=WAL")
        locker.execute("CREATE TABLE t (n INTEGER)")
        locker.execute("PRAGMA locking_mode=EXCLUSIVE")
        locker.execute("BEGIN EXCLUSIVE")
        locker.execute("INSERT INTO t VALUES (1)")
        # The worker threads' connections: each notes its thread when it opens, before its PRAGMAs wait.
        sa.event.listen(get_engine(), "connect", lambda *_: threads.append(threading.get_ident()), insert=True)
        reading = asyncio.create_task(run_reads(count))
        loop_thread = threading.get_ident()
        # The loop's try fails at once (at its connection's first use, before the call, or in the call); the
        # worker thread's try waits for the lock.
        while not any(thread != loop_thread for thread in threads):
            assert not reading.done(), reading
            await asyncio.sleep(0.01)
        locker.execute("COMMIT")
        locker.close()
        assert await reading == 1
        assert threads[-1] != loop_thread
    finally:
        locker.close()
        dispose_engines()
        set_settings(None)


async def test_an_unreachable_postgresql_answers_service_unavailable() -> None:
    set_settings(make_settings(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere"))
    try:
        with pytest.raises(ServiceUnavailable):
            await run_reads(Calls(), phone=PHONE)
    finally:
        set_settings(None)


async def test_a_call_runs_in_its_callers_context(settings: Settings) -> None:
    """Log lines written in the worker thread carry the request's id and phone (contextvars)."""
    seen: list[str | None] = []

    def service(_session: Session) -> None:
        seen.append(log_setup._request_id.get())

    token = log_setup._request_id.set("req-1")
    try:
        await run_with_session(service)
    finally:
        log_setup._request_id.reset(token)
    await run_with_session(service)
    assert seen == ["req-1", None]


async def test_database_threads_are_as_many_as_the_pool_has_connections(settings: Settings) -> None:
    held = Held()
    calls = [asyncio.ensure_future(run_with_session(held)) for _ in range(MAX_CONNECTIONS + 5)]
    await held.until_running(MAX_CONNECTIONS)  # every thread busy; the rest queue
    assert held.running == MAX_CONNECTIONS
    held.release.set()
    await asyncio.gather(*calls)
    assert held.most == MAX_CONNECTIONS


async def test_a_cancelled_caller_leaves_its_call_to_finish_whole(settings: Settings, session: Session) -> None:
    started, go_on = threading.Event(), threading.Event()

    def write(session: Session) -> None:
        with transaction(session, write=True):
            started.set()
            go_on.wait(timeout=30)
            audit.record(session, audit.Event.LOGIN, phone=PHONE)

    call = asyncio.ensure_future(run_with_session(write))
    while not started.is_set():
        await asyncio.sleep(0.01)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert _events(session) == 0  # still running: nothing committed yet
    go_on.set()
    for _ in range(3000):  # the thread commits on its own
        if _events(session) == 1:
            break
        await asyncio.sleep(0.01)
    assert _events(session) == 1


@SQLITE_ONLY
async def test_the_loops_reads_share_one_held_connection(settings: Settings) -> None:
    connections: list[object] = []

    def which(session: Session) -> None:
        with transaction(session):
            connections.append(session.connection().connection.driver_connection)

    for _ in range(3):
        await run_reads(which)
    assert connections[0] is connections[1] is connections[2]
    dispose_engines()  # closes it: a database replaced under the same path is read afresh
    await run_reads(which)
    assert connections[3] is not connections[0]

"""PostgreSQL connections are pinged before use only when idle (core/db/engine.py): a connection the server
closed while it sat in the pool is replaced before a request meets it; one used a moment ago is not pinged,
so a busy server saves that round trip per transaction. Real PostgreSQL, connections really terminated."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from referral_app.core.db import create_db_engine, is_database_outage
from referral_app.core.db import engine as engines

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
pytestmark = pytest.mark.skipif(not TEST_DATABASE_URL, reason="TEST_DATABASE_URL is not set")


@pytest.fixture
def engine() -> Iterator[sa.Engine]:
    assert TEST_DATABASE_URL
    engine = create_db_engine(TEST_DATABASE_URL)
    yield engine
    engine.dispose()


@pytest.fixture
def pings(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The pings the pool sends, counted around the dialect's own."""
    sent: list[object] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        sent.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return sent


def backend_pid(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def terminate(pid: int) -> None:
    """From an engine of its own, so the pool under test keeps only the victim."""
    assert TEST_DATABASE_URL
    killer = create_db_engine(TEST_DATABASE_URL)
    try:
        with killer.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    finally:
        killer.dispose()


def test_a_connection_used_a_moment_ago_is_not_pinged(engine: sa.Engine, pings: list[object]) -> None:
    first = backend_pid(engine)
    for _ in range(5):
        assert backend_pid(engine) == first  # the same pooled connection, straight back in use
    assert pings == []


def test_an_idle_connection_the_server_closed_is_replaced_before_use(
    engine: sa.Engine, pings: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = backend_pid(engine)
    terminate(victim)
    monkeypatch.setattr(engines, "IDLE_PING_SECONDS", 0.0)  # every pooled connection now counts as idle
    replaced = backend_pid(engine)  # the ping finds the victim dead: a fresh connection answers
    assert replaced != victim
    assert pings


def test_a_connection_that_died_within_the_idle_window_fails_once_as_an_outage(
    engine: sa.Engine, pings: list[object]
) -> None:
    victim = backend_pid(engine)
    terminate(victim)
    with pytest.raises(sa.exc.OperationalError) as failed, engine.connect() as conn:
        conn.exec_driver_sql("SELECT pg_backend_pid()")
    assert is_database_outage(failed.value)
    assert backend_pid(engine) != victim  # the disconnect replaced the pool's connections
    assert pings == []

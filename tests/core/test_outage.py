"""Which database errors are an outage (503 `service_unavailable`, retry later) and which a defect (500): a lost
or refused connection, an exhausted pool and SQLite's busy write lock are outages; a missing table, a bad
statement or a full disk are not. Every error here is a real one, raised by SQLite or PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from referral_app.core.db import create_db_engine, describe_database_error, is_database_outage
from tests.support.ports import free_port

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
needs_postgres = pytest.mark.skipif(not TEST_DATABASE_URL, reason="TEST_DATABASE_URL is not set")


def _raised(engine: sa.Engine, statement: str, parameters: dict[str, object] | None = None) -> BaseException:
    with pytest.raises(sa.exc.SQLAlchemyError) as failed, engine.connect() as conn:
        conn.execute(sa.text(statement), parameters or {})
    return failed.value


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'outage.db'}", busy_timeout_ms=0)
    yield engine
    engine.dispose()


def test_sqlite_busy_is_an_outage(sqlite_engine: sa.Engine, tmp_path: Path) -> None:
    with sqlite_engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x integer)")
    holder = sqlite3.connect(tmp_path / "outage.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # SQLite's one write lock, held
        busy = _raised(sqlite_engine, "INSERT INTO t VALUES (1)")
    finally:
        holder.close()
    assert "locked" in str(busy) and is_database_outage(busy)


def test_a_missing_table_on_sqlite_is_not_an_outage(sqlite_engine: sa.Engine) -> None:
    missing = _raised(sqlite_engine, "SELECT * FROM users WHERE phone = :phone", {"phone": "+79161112233"})
    assert isinstance(missing, sa.exc.OperationalError) and not is_database_outage(missing)
    described = describe_database_error(missing)
    assert described == "OperationalError (sqlite3.OperationalError): no such table: users"


def test_a_full_pool_is_an_outage(tmp_path: Path) -> None:
    engine = sa.create_engine(
        f"sqlite:///{tmp_path / 'pool.db'}", poolclass=sa.QueuePool, pool_size=1, max_overflow=0, pool_timeout=0.01
    )
    try:
        with engine.connect(), pytest.raises(sa.exc.TimeoutError) as failed, engine.connect():
            pass
        assert is_database_outage(failed.value)
    finally:
        engine.dispose()


def test_a_refused_postgresql_connection_is_an_outage() -> None:
    engine = create_db_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere", connect_timeout=1)
    try:
        assert is_database_outage(_raised(engine, "SELECT 1"))
    finally:
        engine.dispose()


@needs_postgres
def test_a_terminated_postgresql_connection_is_an_outage() -> None:
    assert TEST_DATABASE_URL
    engine = create_db_engine(TEST_DATABASE_URL)
    try:
        with engine.connect() as victim:
            pid = victim.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            with engine.connect() as killer:
                killer.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            with pytest.raises(sa.exc.OperationalError) as failed:
                victim.exec_driver_sql("SELECT 1")
        assert is_database_outage(failed.value)
    finally:
        engine.dispose()


@needs_postgres
@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("SELECT * FROM no_such_table WHERE phone = :phone", 'relation "no_such_table" does not exist'),
        ("SELECT :phone, 1 / 0", "division by zero"),
        # Disk full and friends are OperationalErrors too: SQLSTATE class 53 other than 53300.
        ("DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = 'disk_full', MESSAGE = 'no space'; END $$", "no space"),
    ],
)
def test_postgresql_errors_that_are_not_an_outage(statement: str, message: str) -> None:
    assert TEST_DATABASE_URL
    engine = create_db_engine(TEST_DATABASE_URL)
    try:
        error = _raised(engine, statement, {"phone": "+79161112233"} if ":phone" in statement else None)
    finally:
        engine.dispose()
    assert not is_database_outage(error)
    described = describe_database_error(error)
    assert described.endswith(message)
    assert "[parameters" not in described and "DETAIL" not in described

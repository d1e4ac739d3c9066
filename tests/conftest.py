"""Shared fixtures: every database test runs on real SQLite, and on real PostgreSQL when
TEST_DATABASE_URL is set (CI sets it; if it is set but unreachable the tests fail, they never skip)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from referral_app.core.clock import set_clock
from referral_app.core.config import Settings, set_settings
from referral_app.core.db import create_db_engine, dispose_engines, migrate
from referral_app.services import audit, health, refusal_cache, server_keys
from referral_app.services.sms import load_sender
from referral_app.services.sms.delivery import reset_breakers
from tests.helpers import FakeClock, make_settings
from tests.support.guards import NotATestService, check_test_services
from tests.support.server import RunningServer, start_server, stop_server

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite", "postgresql"]


def pytest_configure(config: pytest.Config) -> None:
    """Stop before anything is touched when TEST_DATABASE_URL or TEST_REDIS_URL is not a test one."""
    try:
        check_test_services(TEST_DATABASE_URL, os.environ.get("TEST_REDIS_URL"))
    except NotATestService as refused:
        raise pytest.UsageError(str(refused)) from None


def _backend_params() -> list:
    skip_pg = pytest.mark.skip(reason="TEST_DATABASE_URL is not set")
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=() if TEST_DATABASE_URL else (skip_pg,)),
    ]


def _reset_postgres(url: str) -> None:
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
            conn.commit()
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def migrated_urls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One migrated database per backend for the whole run; tests empty the tables after themselves."""
    urls = {"sqlite": f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"}
    if TEST_DATABASE_URL:
        _reset_postgres(TEST_DATABASE_URL)  # fails loudly when PostgreSQL is unreachable
        urls["postgresql"] = TEST_DATABASE_URL
    for url in urls.values():
        migrate(Settings(database_url=url))
    dispose_engines()
    return urls


@pytest.fixture(params=_backend_params())
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def settings(backend: str, migrated_urls: dict[str, str]) -> Iterator[Settings]:
    if backend not in migrated_urls:  # a test that asks for PostgreSQL by name, when none is configured
        pytest.skip(f"TEST_DATABASE_URL is not set: no {backend} database")
    current = make_settings(migrated_urls[backend])
    set_settings(current)
    server_keys.clear_cache()
    audit.forget_refusals()
    health.forget()
    refusal_cache.forget()
    reset_breakers()
    yield current
    _truncate(migrated_urls[backend])
    set_settings(None)
    server_keys.clear_cache()
    load_sender.cache_clear()
    reset_breakers()
    audit.forget_refusals()
    refusal_cache.forget()


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    """A clock of the test's own for every rule (core/clock.py), starting at the real now: `clock.advance(s)`."""
    fake = FakeClock()
    set_clock(fake)
    yield fake
    set_clock(None)


_truncate_engines: dict[str, Engine] = {}


# The audit trail cannot be emptied by DELETE (its triggers refuse it): tests go through the sanctioned purge,
# whose records stay, like any operator's.
AUDIT_TABLES = ("audit_events", "audit_purges")
EVERYTHING_BEFORE = datetime(9999, 1, 1)


def _truncate(url: str) -> None:
    # DELETE, on one engine per database for the run: TRUNCATE on PostgreSQL and a new engine every time
    # cost 40 ms a test, a few seconds of `make test-unit`. Ids start from 1 again as after TRUNCATE.
    engine = _truncate_engines.get(url) or _truncate_engines.setdefault(url, create_db_engine(url))
    with Session(engine) as session:
        audit.purge(session, before=EVERYTHING_BEFORE, reason="tests")
    with engine.begin() as conn:
        tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables) if t.name not in AUDIT_TABLES]
        conn.execute(sa.text("UPDATE users SET referrer_id = NULL"))
        for table in tables:
            conn.execute(sa.text(f"DELETE FROM {table}"))
        if engine.dialect.name == "postgresql":
            sequences = (
                "SELECT oid FROM pg_class WHERE relkind = 'S' AND relnamespace = 'public'::regnamespace"
                " AND relname <> 'audit_purges_id_seq'"
            )
            conn.execute(sa.text(f"SELECT setval(oid, 1, false) FROM ({sequences}) AS s"))


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    from referral_app.core.db import get_engine

    yield get_engine(settings)
    dispose_engines()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
async def client(settings: Settings) -> httpx.AsyncClient:
    from referral_app.api.main import create_api

    transport = httpx.ASGITransport(app=create_api(), client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
    dispose_engines()


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One real server for the run (`make run` in demo mode on a fresh SQLite file and a free port).

    The per-IP hourly limits are raised because every test client shares 127.0.0.1; those limits have their
    own tests against the API."""
    repo_root = Path(__file__).resolve().parents[1]
    running = start_server(
        repo_root,
        tmp_path_factory.mktemp("server"),
        CODE_MAX_PER_IP_PER_HOUR="1000",
        VERIFY_MAX_PER_IP_PER_HOUR="1000",
    )
    yield running
    stop_server(running)

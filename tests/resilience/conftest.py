"""Fixtures for the resilience tests: real server processes (started by `make run`, like `live_server`) run
from a private copy of the project, scratch PostgreSQL databases, Redis, and a browser.

PostgreSQL comes from TEST_DATABASE_URL (each test gets its own scratch database on that server) and Redis
from TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/13). Like the rest of the suite: when a variable is set,
the service must be reachable, or the tests fail; when it is unset, the tests that need it are skipped."""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.support.postgres import TempPostgres, postgres_bindir, scratch_postgres_database
from tests.support.server import RunningServer, copy_project, kill_hard, start_server, stop_server
from tests.ui.conftest import browser  # noqa: F401  (the same Chromium fixture as the UI tests)

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL")
_database_names = itertools.count(1)


@pytest.fixture(scope="session")
def server_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project copy the servers of these tests run from (see `copy_project`)."""
    repo_root = Path(__file__).resolve().parents[2]
    return copy_project(repo_root, tmp_path_factory.mktemp("project") / "referral_app")


@pytest.fixture
def servers(server_root: Path, tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    with running_servers(server_root, tmp_path) as start:
        yield start


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty database on TEST_DATABASE_URL's server, dropped afterwards (skips when it is unset)."""
    if not TEST_DATABASE_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    name = f"referral_resilience_{os.getpid()}_{next(_database_names)}"
    with scratch_postgres_database(TEST_DATABASE_URL, name) as url:
        yield url


@pytest.fixture
def own_postgres() -> Iterator[TempPostgres]:
    """A throw-away PostgreSQL cluster of the test's own (initdb + pg_ctl), to stop and start at will."""
    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found; set PG_BINDIR")
    pg = TempPostgres(bindir)
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        pg.destroy()


def require_redis() -> str:
    """TEST_REDIS_URL, checked to answer (skips when it is unset)."""
    if not TEST_REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set")
    client = redis.Redis.from_url(TEST_REDIS_URL)
    try:
        client.ping()  # fails loudly when Redis is configured but unreachable
    finally:
        client.close()
    return TEST_REDIS_URL


@contextlib.contextmanager
def running_servers(server_root: Path, log_dir: Path) -> Iterator[Callable[..., RunningServer]]:
    """Start servers (`make run` in the copy) with extra environment; every one is stopped at the end."""
    started: list[RunningServer] = []

    def start(**env: str) -> RunningServer:
        server = start_server(server_root, log_dir, **env)
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            try:
                stop_server(server)
            except Exception:
                kill_hard(server)

"""The suite refuses to wipe what is not a test service: a PostgreSQL database whose name lacks `test`, a Redis
URL without a database index. It stops at start, before any fixture runs (tests/support/guards.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.guards import NotATestService, check_test_database_url, check_test_redis_url
from tests.support.postgres import scratch_postgres_database

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
REPO_ROOT = Path(__file__).resolve().parents[2]
# A test whose `settings` fixture migrates TEST_DATABASE_URL: it drops schema `public` there first.
WIPING_TEST = "tests/services/test_health.py"


def _run_suite(**env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("TEST_DATABASE_URL", "TEST_REDIS_URL")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", WIPING_TEST, "-q", "-p", "no:cacheprovider", "-x"],
        cwd=REPO_ROOT,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="TEST_DATABASE_URL is not set")
def test_a_database_not_named_test_is_left_alone() -> None:
    assert TEST_DATABASE_URL
    with scratch_postgres_database(TEST_DATABASE_URL, f"referral_guard_victim_{os.getpid()}") as url:
        victim = sa.create_engine(url)
        try:
            with victim.begin() as conn:
                conn.execute(sa.text("CREATE TABLE precious (id integer)"))
            run = _run_suite(TEST_DATABASE_URL=url)
            assert run.returncode == pytest.ExitCode.USAGE_ERROR, run.stdout + run.stderr
            assert "whose name contains 'test'" in run.stderr
            with victim.connect() as conn:  # still there: nothing was dropped
                assert conn.execute(sa.text("SELECT count(*) FROM precious")).scalar_one() == 0
        finally:
            victim.dispose()


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379", "redis://127.0.0.1:6379/", "redis://h:1/x"])
def test_a_redis_url_without_a_database_index_stops_the_suite(url: str) -> None:
    run = _run_suite(TEST_REDIS_URL=url)
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, run.stdout + run.stderr
    assert "names no database index" in run.stderr
    assert "passed" not in run.stdout  # not one test ran


@pytest.mark.parametrize(
    "url", ["postgresql+psycopg://postgres@h/postgres", "postgresql://u@h/referral", "postgresql://u@h"]
)
def test_database_names_without_test_are_refused(url: str) -> None:
    with pytest.raises(NotATestService, match="contains 'test'"):
        check_test_database_url(url)


def test_database_names_with_test_pass() -> None:
    for url in ["postgresql+psycopg://postgres@127.0.0.1:5432/test", "postgresql://u@h/referral_TEST_2"]:
        check_test_database_url(url)


def test_redis_urls_naming_their_index_pass() -> None:
    for url in ["redis://127.0.0.1:6379/13", "redis://127.0.0.1:6379?db=9", "rediss://u:p@h:6380/0"]:
        check_test_redis_url(url)

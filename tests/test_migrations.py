"""Alembic owns the schema: upgrade from empty works on every backend and matches the models exactly."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import referral_app.models  # noqa: F401
from referral_app.core.config import Settings
from referral_app.core.db import alembic_config, create_db_engine, dispose_engines, migrate
from tests.conftest import TEST_DATABASE_URL


@pytest.fixture
def empty_url(backend: str, tmp_path):  # type: ignore[no-untyped-def]
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        dispose_engines()
        return
    # A separate database keeps the shared test schema intact; named after the test database, so runs against
    # different test databases on one server (several checkouts, several people) never drop each other's.
    name = f"{sa.engine.make_url(TEST_DATABASE_URL).database}_migrations"
    admin = create_db_engine(TEST_DATABASE_URL, connect_timeout=5)  # type: ignore[arg-type]
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = sa.engine.make_url(TEST_DATABASE_URL).set(database=name)
    yield url.render_as_string(hide_password=False)
    dispose_engines()


def test_upgrade_from_empty_matches_models_and_downgrades(empty_url: str) -> None:
    migrate(Settings(_env_file=None, database_url=empty_url))
    engine = create_db_engine(empty_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata
            )
            assert diff == [], diff
            tables = set(sa.inspect(conn).get_table_names())
        assert {
            "users",
            "login_codes",
            "auth_tokens",
            "sign_in_guards",
            "rate_counters",
            "server_secrets",
            "audit_events",
        } <= tables
        # Applying again is a no-op, and the schema can be torn down and rebuilt.
        migrate(Settings(_env_file=None, database_url=empty_url))
        command.downgrade(alembic_config(empty_url), "base")
        with engine.connect() as conn:
            assert set(sa.inspect(conn).get_table_names()) <= {"alembic_version"}
        command.upgrade(alembic_config(empty_url), "head")
    finally:
        engine.dispose()


def test_every_lookup_has_an_index(empty_url: str) -> None:
    migrate(Settings(_env_file=None, database_url=empty_url))
    engine = create_db_engine(empty_url)
    try:
        inspector = sa.inspect(engine)

        def indexed(table: str) -> set[tuple[str, ...]]:
            found = {tuple(i["column_names"]) for i in inspector.get_indexes(table)}
            found |= {tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)}
            return found

        assert {("phone",), ("invite_code",), ("referrer_id", "invite_activated_at")} <= indexed("users")
        assert {("token_hash",), ("user_id",)} <= indexed("auth_tokens")
        assert {("phone", "created_at"), ("requester_ip", "created_at")} <= indexed("login_codes")
    finally:
        engine.dispose()


@pytest.mark.slow  # four Python processes importing the app at once: not in `make test-unit`
def test_workers_starting_together_migrate_once(empty_url: str, repo_root) -> None:  # type: ignore[no-untyped-def]
    """Several server workers start at the same moment; each applies migrations under a lock."""
    import subprocess
    import sys

    script = "from referral_app.core.db import migrate; migrate()"
    env = {**os.environ, "DATABASE_URL": empty_url}
    workers = [
        subprocess.Popen([sys.executable, "-c", script], cwd=repo_root, env=env, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    outcomes = [(w.wait(timeout=120), w.stderr.read().decode()) for w in workers]
    assert [code for code, _ in outcomes] == [0, 0, 0, 0], outcomes
    engine = create_db_engine(empty_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar() == 1
            assert MigrationContext.configure(conn).get_current_revision() is not None
    finally:
        engine.dispose()


def test_waiting_for_the_database_is_bounded_and_logged(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """On start the server retries an unreachable database a bounded number of times, saying what it waits for."""
    import logging

    from referral_app.core.db import wait_for_database

    messages: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())  # type: ignore[method-assign]
    db_log = logging.getLogger("referral_app.core.db")
    db_log.addHandler(handler)
    level = db_log.level
    db_log.setLevel(logging.INFO)
    down = create_db_engine("postgresql+psycopg://app:s3cret@127.0.0.1:1/app", connect_timeout=1)
    up = create_db_engine(f"sqlite:///{tmp_path / 'up.db'}")
    try:
        with pytest.raises(sa.exc.OperationalError):
            wait_for_database(down, attempts=3, delay=0)
        waits = [m for m in messages if m.startswith("waiting for database")]
        assert len(waits) == 2 and "attempt 2/3" in waits[1]
        assert "postgresql+psycopg://app:***@127.0.0.1:1/app" in waits[0]
        assert "unreachable after 3 attempts, giving up" in messages[-1]
        assert not any("s3cret" in m for m in messages)
        wait_for_database(up, attempts=3, delay=0)
        assert "is reachable" in messages[-1]
    finally:
        db_log.removeHandler(handler)
        db_log.setLevel(level)
        down.dispose()
        up.dispose()

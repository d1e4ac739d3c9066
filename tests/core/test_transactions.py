"""Read sessions and joined reads: one read transaction for several service calls; in a read session writes are
refused, in joined reads they are still their own."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from referral_app.core.config import Settings
from referral_app.core.db import get_engine, joined_reads, read_session, session_scope, transaction
from referral_app.models import AuditEvent, User
from referral_app.services import audit, auth, login_codes, users

PHONE = "+79123456789"


@pytest.fixture
def statements(settings: Settings) -> Iterator[list[str]]:
    """Transaction control the database saw: SQLite's BEGIN statements, and commits on both."""
    seen: list[str] = []
    engine = get_engine(settings)

    def on_execute(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith("BEGIN"):
            seen.append("BEGIN")

    def on_commit(_conn: object) -> None:
        seen.append("COMMIT")

    sa.event.listen(engine, "before_cursor_execute", on_execute)
    sa.event.listen(engine, "commit", on_commit)
    yield seen
    sa.event.remove(engine, "before_cursor_execute", on_execute)
    sa.event.remove(engine, "commit", on_commit)


def _signed_in(settings: Settings) -> str:
    with session_scope() as session:
        code = login_codes.issue_code(session, phone=PHONE, client_ip=None)
        return auth.login_with_code(session, phone=PHONE, code=code).access_token


def test_reads_in_a_joined_block_are_one_transaction(settings: Settings, statements: list[str]) -> None:
    token = _signed_in(settings)
    with session_scope() as session:
        auth.authenticate(session, token=token)  # the first use after sign-in: its touch is not due yet
        statements.clear()
        separate = users.get_profile(session, user_id=auth.authenticate(session, token=token))
        assert statements.count("COMMIT") == 2
        statements.clear()
        with joined_reads(session):
            joined = users.get_profile(session, user_id=auth.authenticate(session, token=token))
        assert statements.count("COMMIT") == 1
        if settings.database_url.startswith("sqlite"):
            assert statements.count("BEGIN") == 1
    assert joined == separate


def test_a_write_inside_runs_as_its_own_transaction(settings: Settings) -> None:
    token = _signed_in(settings)
    with session_scope() as session, joined_reads(session):
        user_id = auth.authenticate(session, token=token)
        with transaction(session, write=True):
            session.exec(select(User).where(User.id == user_id)).one().name = "Ann"
        assert not session.in_transaction()  # it ended the shared read, and committed itself
        with transaction(session):
            assert session.exec(select(User.name).where(User.id == user_id)).one() == "Ann"
    with session_scope() as session:
        assert users.get_profile(session, user_id=user_id).name == "Ann"  # committed by its own transaction


def test_a_change_in_a_joined_read_is_refused_and_dropped(settings: Settings) -> None:
    token = _signed_in(settings)
    with session_scope() as session, joined_reads(session):
        user_id = auth.authenticate(session, token=token)
        with pytest.raises(RuntimeError, match="read transaction made changes"), transaction(session):
            session.exec(select(User).where(User.id == user_id)).one().name = "Bob"
        assert not session.in_transaction()
    with session_scope() as session:
        assert users.get_profile(session, user_id=user_id).name is None


def test_an_error_in_a_joined_read_ends_the_transaction(settings: Settings) -> None:
    with session_scope() as session, joined_reads(session):
        with pytest.raises(LookupError), transaction(session):
            session.exec(select(User)).all()
            raise LookupError
        assert not session.in_transaction()


def test_outside_a_joined_block_each_read_ends_itself(settings: Settings, statements: list[str]) -> None:
    with session_scope() as session:
        for _ in range(2):
            with transaction(session):
                session.exec(select(User)).all()
            assert not session.in_transaction()
    assert statements.count("COMMIT") == 2


def _in_database_transaction(session: Session) -> bool:
    """Whether the database itself has a transaction open on the session's connection (not just SQLAlchemy)."""
    driver = session.connection().connection.driver_connection
    if isinstance(driver, sqlite3.Connection):
        return driver.in_transaction
    return driver.info.transaction_status != psycopg.pq.TransactionStatus.IDLE


def test_postgresql_reads_run_without_begin_and_writes_in_a_transaction(settings: Settings, backend: str) -> None:
    token = _signed_in(settings)
    postgresql = backend == "postgresql"
    with session_scope() as session:
        with transaction(session):
            session.exec(select(User)).all()
            assert _in_database_transaction(session) is not postgresql  # SQLite's read keeps its snapshot
        with joined_reads(session):
            auth.authenticate(session, token=token)
            assert _in_database_transaction(session) is not postgresql
            with transaction(session, "a key", write=True):
                session.exec(select(User)).all()
                assert _in_database_transaction(session)  # the advisory locks live as long as the transaction
            users.get_profile(session, user_id=auth.authenticate(session, token=token))
            assert _in_database_transaction(session) is not postgresql
        with transaction(session, write=True):
            session.exec(select(User)).all()
            assert _in_database_transaction(session)


def test_a_read_session_is_one_read_transaction(settings: Settings, backend: str, statements: list[str]) -> None:
    token = _signed_in(settings)
    with session_scope() as session:
        auth.authenticate(session, token=token)  # the first use after sign-in: its touch is not due yet
        separate = users.get_profile(session, user_id=auth.authenticate(session, token=token))
    statements.clear()
    with get_engine().connect() as connection:
        with read_session(connection) as session:
            with joined_reads(session):  # changes nothing here: the reads are one transaction already
                together = users.get_profile(session, user_id=auth.authenticate(session, token=token))
            assert connection.in_transaction()
            assert _in_database_transaction(session) is (backend != "postgresql")  # PostgreSQL: autocommit
        assert not connection.in_transaction()
    assert together == separate
    assert statements.count("BEGIN") == (1 if backend == "sqlite" else 0)
    assert statements.count("COMMIT") == 0  # a read session is rolled back: whatever it did, nothing is kept


def test_a_write_in_a_read_session_is_refused_before_it_begins(settings: Settings) -> None:
    with get_engine().connect() as connection:
        with pytest.raises(RuntimeError, match="read session"), read_session(connection) as session:
            audit.record_alone(session, audit.Event.LOGIN, phone=PHONE)
        assert not connection.in_transaction()
    with session_scope() as session, transaction(session):
        assert session.exec(select(AuditEvent)).all() == []


def test_a_change_in_a_read_session_is_refused_and_dropped(settings: Settings) -> None:
    token = _signed_in(settings)
    with session_scope() as session:
        user_id = auth.authenticate(session, token=token)
    with get_engine().connect() as connection:
        with (
            pytest.raises(RuntimeError, match="made changes"),
            read_session(connection) as session,
            transaction(session),
        ):
            session.exec(select(User).where(User.id == user_id)).one().name = "Bob"
        with read_session(connection) as session:  # the connection reads on, in a new transaction
            assert users.get_profile(session, user_id=user_id).name is None

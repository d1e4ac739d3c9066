"""PreparedRead: the hot SELECTs on the driver's cursor give what SQLAlchemy gives, in the session's transaction,
seen by the engine's listeners, and fail as SQLAlchemy fails."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from referral_app.core.config import Settings, set_settings
from referral_app.core.db import (
    PreparedRead,
    dispose_engines,
    get_loop_sqlite_engine,
    is_database_outage,
    is_sqlite_busy,
    session_scope,
    transaction,
)
from referral_app.models import User
from referral_app.services import auth, login_codes, referrals, security, users
from tests.helpers import make_settings

_users = sa.inspect(User).local_table
_BY_ID = PreparedRead(sa.select(_users.c.id, _users.c.phone).where(_users.c.id == sa.bindparam("user_id")))


def _signed_in(session: Session, phone: str) -> tuple[int, str]:
    code = login_codes.issue_code(session, phone=phone, client_ip=None)
    result = auth.login_with_code(session, phone=phone, code=code, with_profile=True)
    assert result.profile is not None
    return result.profile.id, result.access_token


def test_rows_are_those_sqlalchemy_reads(settings: Settings, session: Session) -> None:
    owner_id, token = _signed_in(session, "+79120000000")
    owner_code = users.get_profile(session, user_id=owner_id).invite_code
    for n in range(1, 4):
        invited_id, _ = _signed_in(session, f"+7912000000{n}")
        referrals.activate_invite(session, user_id=invited_id, invite_code=owner_code)
    reads = [
        (auth._TOKEN_BY_HASH, {"token_hash": security.token_hash(token)}),
        (users._PROFILE_BY_ID, {"user_id": owner_id}),
        (users._PROFILE_BY_ID, {"user_id": owner_id + 1}),  # an invited user: the referrer's columns are set
        (auth._PROFILE_BY_TOKEN, {"token_hash": security.token_hash(token)}),
        (users._REFERRALS_PAGE, {"user_id": owner_id, "limit": 2, "offset": 1}),
        (users._REFERRALS_TOTAL, {"user_id": owner_id}),
    ]
    with transaction(session):
        for read, params in reads:
            expected = session.execute(read.statement, params).all()
            got = read.all(session, params)
            assert [tuple(row) for row in got] == [tuple(row) for row in expected]
            assert [row._fields for row in got] == [tuple(row._fields) for row in expected]
            for got_row, expected_row in zip(got, expected, strict=True):
                assert [type(v) for v in got_row] == [type(v) for v in expected_row]
        assert isinstance(users._PROFILE_BY_ID.first(session, {"user_id": owner_id}).created_at, datetime)
        assert users._REFERRALS_TOTAL.scalar(session, {"user_id": owner_id}) == 3


def test_literals_unions_and_text_statements(settings: Settings, session: Session) -> None:
    for n in range(3):
        _signed_in(session, f"+7912000001{n}")
    newest_two = sa.select(_users.c.phone).order_by(_users.c.id.desc()).limit(2).subquery()
    oldest = sa.select(_users.c.phone).order_by(_users.c.id).limit(1).subquery()
    union = PreparedRead(sa.union_all(sa.select(newest_two), sa.select(oldest)))  # `limit(n)`: literal binds
    text = PreparedRead(
        sa.text("SELECT phone, created_at FROM users WHERE phone > :after ORDER BY phone")
        .bindparams(sa.bindparam("after"))
        .columns(_users.c.phone, _users.c.created_at)
    )
    with transaction(session):
        assert [row.phone for row in union.all(session, {})] == ["+79120000012", "+79120000011", "+79120000010"]
        rows = text.all(session, {"after": "+79120000010"})
        assert [row.phone for row in rows] == ["+79120000011", "+79120000012"]
        assert all(isinstance(row.created_at, datetime) for row in rows)  # the column's type, as declared


def test_nothing_found(settings: Settings, session: Session) -> None:
    with transaction(session):
        assert _BY_ID.first(session, {"user_id": 404}) is None
        assert _BY_ID.all(session, {"user_id": 404}) == []
        with pytest.raises(sa.exc.NoResultFound):
            _BY_ID.scalar(session, {"user_id": 404})


def test_reads_inside_the_sessions_own_transaction(settings: Settings, session: Session) -> None:
    with pytest.raises(RuntimeError, match="rolled back"), transaction(session, write=True):
        session.add(User(phone="+79120000009", invite_code="ABCDEF"))
        session.flush()
        found = _BY_ID.all(session, {"user_id": session.execute(sa.select(User.id)).scalar_one()})
        assert [row.phone for row in found] == ["+79120000009"]  # the transaction's own unsaved row
        raise RuntimeError("rolled back")
    with transaction(session):
        assert session.execute(sa.select(sa.func.count()).select_from(User)).scalar_one() == 0


def test_the_engines_listeners_see_each_statement(settings: Settings, engine: Engine, session: Session) -> None:
    seen: list[tuple[str, str]] = []
    before = lambda *args: seen.append(("before", args[2]))  # noqa: E731
    after = lambda *args: seen.append(("after", args[2]))  # noqa: E731
    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)
    try:
        with transaction(session):
            _BY_ID.first(session, {"user_id": 1})
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
        sa.event.remove(engine, "after_cursor_execute", after)
    selects = [(when, sql) for when, sql in seen if "FROM users" in sql]
    assert [when for when, _ in selects] == ["before", "after"]
    assert selects[0][1].lstrip().startswith("SELECT users.id, users.phone")


def test_what_it_cannot_run_is_refused(settings: Settings, session: Session) -> None:
    expanding = PreparedRead(sa.select(_users.c.id).where(_users.c.id.in_(sa.bindparam("ids", expanding=True))))
    unnamed = PreparedRead(sa.select(sa.func.count()).select_from(_users))
    with transaction(session):
        with pytest.raises(ValueError, match="plain parameters only"):
            expanding.all(session, {"ids": [1, 2]})
        with pytest.raises(ValueError, match="label the expressions"):
            unnamed.all(session, {})


def test_a_busy_sqlite_database_fails_as_sqlalchemy_would(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    locker = sqlite3.connect(path, isolation_level=None)  # EXCLUSIVE mode: even WAL readers must wait
    set_settings(make_settings(f"sqlite:///{path}"))
    read = PreparedRead(
        sa.select(sa.column("n")).select_from(sa.table("t")).where(sa.column("n") == sa.bindparam("n"))
    )
    try:
        locker.execute("PRAGMA journal_mode=WAL")
        locker.execute("CREATE TABLE t (n INTEGER)")
        locker.execute("PRAGMA locking_mode=EXCLUSIVE")
        locker.execute("BEGIN EXCLUSIVE")
        locker.execute("INSERT INTO t VALUES (424242)")
        with session_scope(get_loop_sqlite_engine()) as session, pytest.raises(sa.exc.OperationalError) as failed:
            read.first(session, {"n": 424242})
        assert is_sqlite_busy(failed.value)
        assert "424242" not in str(failed.value)  # parameters (a token's hash) are never in the message
    finally:
        locker.close()
        dispose_engines()
        set_settings(None)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_lost_postgresql_connection_is_an_outage_and_is_not_reused(settings: Settings, engine: Engine) -> None:
    with session_scope(engine) as session, pytest.raises(sa.exc.DBAPIError) as failed, transaction(session):
        pid = session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        with engine.connect() as killer:
            killer.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            killer.commit()
        _BY_ID.first(session, {"user_id": 1})
    assert failed.value.connection_invalidated and is_database_outage(failed.value)
    with session_scope(engine) as session, transaction(session):
        assert _BY_ID.first(session, {"user_id": 1}) is None  # a fresh connection

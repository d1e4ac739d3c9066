"""Every error a web-app event raises reaches the person as a translated service message."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from referral_app.core.db import create_db_engine
from referral_app.services.errors import InvalidCode, NotAuthenticated, ServiceError, ServiceUnavailable
from referral_app.web.errors import show_backend_error
from referral_app.web.state.app import AppState

PHONE = "+79161112233"


def _shown(exception: Exception) -> ServiceError:
    spec = show_backend_error(exception)
    assert spec is not None
    assert spec.handler.fn.__qualname__ == AppState.show_error.fn.__qualname__
    ((_, stored),) = spec.args
    return ServiceError.from_dict(stored._var_value)


def test_service_errors_are_shown_as_they_are() -> None:
    shown = _shown(InvalidCode(attempts_left=2))
    assert type(shown) is InvalidCode and shown.message("ru") == "Код неверный или устарел. Осталось попыток: 2."
    assert type(_shown(NotAuthenticated())) is NotAuthenticated  # show_error sends the tab to sign-in


def _sqlite_error(path: Path, statement: str, *, hold_write_lock: bool = False) -> sa.exc.DBAPIError:
    """The error SQLite really raises for `statement` (with a parameter), its write lock held by another
    connection if asked."""
    engine = create_db_engine(f"sqlite:///{path}", busy_timeout_ms=0)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("CREATE TABLE IF NOT EXISTS t (x text)")
        if hold_write_lock:
            holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(sa.exc.DBAPIError) as failed, engine.connect() as conn:
            conn.execute(sa.text(statement), {"x": PHONE})
        return failed.value
    finally:
        holder.close()
        engine.dispose()


def test_a_busy_database_is_shown_as_service_unavailable(tmp_path: Path) -> None:
    busy = _sqlite_error(tmp_path / "busy.db", "INSERT INTO t VALUES (:x)", hold_write_lock=True)
    assert type(_shown(busy)) is ServiceUnavailable


def test_any_other_database_error_is_the_generic_error_logged_without_parameters(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = _sqlite_error(tmp_path / "missing.db", "SELECT * FROM users WHERE phone = :x")
    shown = _shown(missing)
    assert type(shown) is ServiceError
    assert (
        "unhandled error in a web app event: OperationalError (sqlite3.OperationalError): no such table: users"
        in (caplog.text)
    )
    assert PHONE not in caplog.text and "[parameters" not in caplog.text


def test_anything_else_is_the_generic_translated_error(caplog) -> None:  # type: ignore[no-untyped-def]
    shown = _shown(RuntimeError("boom"))
    assert type(shown) is ServiceError
    assert shown.message("en") == "Something went wrong on our side."
    assert "unhandled error in a web app event" in caplog.text

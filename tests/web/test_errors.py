"""Every error a web-app event raises reaches the person as a translated service message."""

from __future__ import annotations

import sqlalchemy as sa

from referral_app.services.errors import InvalidCode, NotAuthenticated, ServiceError, ServiceUnavailable
from referral_app.web.errors import show_backend_error
from referral_app.web.state.app import AppState


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


def test_a_lost_database_is_shown_as_service_unavailable() -> None:
    outage = sa.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))
    assert type(_shown(outage)) is ServiceUnavailable


def test_anything_else_is_the_generic_translated_error(caplog) -> None:  # type: ignore[no-untyped-def]
    shown = _shown(RuntimeError("boom"))
    assert type(shown) is ServiceError
    assert shown.message("en") == "Something went wrong on our side."
    assert "unhandled error in a web app event" in caplog.text

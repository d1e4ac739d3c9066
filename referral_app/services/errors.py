"""Errors the service layer raises. Each has a stable machine `code`, an HTTP status and a translated message.

API routes and the web app's states render these; neither invents its own messages.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any, ClassVar

import sqlalchemy as sa

from referral_app.core.db import describe_database_error, is_database_outage
from referral_app.core.i18n import API_LANGUAGE, humanize_seconds, translate


class ServiceError(Exception):
    code: ClassVar[str] = "internal_error"
    status_code: ClassVar[int] = 500
    # The message's placeholders (besides `wait`, made from retry_after): integers, checked by from_dict.
    param_names: ClassVar[tuple[str, ...]] = ()
    needs_wait: ClassVar[bool] = False  # the message says how long to wait
    reason: str | None = None  # which limit or rule refused it, for the audit log (never shown to clients)
    _by_code: ClassVar[dict[str, type[ServiceError]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        ServiceError._by_code[cls.code] = cls

    def __init__(self, *, retry_after: int | None = None, **params: Any) -> None:
        self.retry_after = retry_after
        self.params = params
        super().__init__(self.message())

    def message(self, lang: str = API_LANGUAGE) -> str:
        params = dict(self.params)
        if self.retry_after is not None:
            params["wait"] = humanize_seconds(self.retry_after, lang)
        return translate(f"error.{self.code}", lang, **params)

    def to_dict(self) -> dict[str, Any]:
        """A plain form to keep (e.g. in UI state) and turn back into the error, to translate it later."""
        return {"code": self.code, "retry_after": self.retry_after, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, data: object) -> ServiceError:
        """The error `to_dict` described. The dict may have passed through the browser, so anything that
        does not describe a known error exactly (code, integer wait, its own integer parameters) gives the
        generic internal error rather than an exception."""
        stored = data if isinstance(data, dict) else {}
        code = stored.get("code")
        error_class = cls._by_code.get(code, ServiceError) if isinstance(code, str) else ServiceError
        retry_after, params = stored.get("retry_after"), stored.get("params") or {}
        valid = (
            (_is_int(retry_after) if error_class.needs_wait else retry_after is None or _is_int(retry_after))
            and isinstance(params, dict)
            and set(params) == set(error_class.param_names)
            and all(_is_int(value) for value in params.values())
        )
        if not valid:
            error_class, retry_after, params = ServiceError, None, {}
        error = error_class.__new__(error_class)
        ServiceError.__init__(error, retry_after=retry_after, **params)
        return error

    def extra(self) -> dict[str, Any]:
        """Fields added to the JSON error body besides `detail` and `code`."""
        return {}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


class InvalidPhone(ServiceError):
    code, status_code = "invalid_phone", 422


class UnsupportedNumber(ServiceError):
    """A valid number that gets no SMS from us: its type (toll-free, premium-rate, fixed line) or region."""

    code, status_code = "unsupported_number", 422

    def __init__(self, *, reason: str | None = None) -> None:
        super().__init__()
        self.reason = reason  # for the audit log; not shown to clients


class SmsFailed(ServiceError):
    """The SMS provider failed or timed out; the code was withdrawn, so a new one may be requested at once."""

    code, status_code = "sms_failed", 502


class UnknownClient(ServiceError):
    """The request's sender cannot be told apart (no IP address, and no trusted proxy naming one)."""

    code, status_code = "unknown_client", 403


class InvalidEmail(ServiceError):
    code, status_code = "invalid_email", 422


class InvalidName(ServiceError):
    code, status_code = "invalid_name", 422
    param_names = ("limit",)

    def __init__(self, *, limit: int) -> None:
        super().__init__(limit=limit)


class RateLimited(ServiceError):
    code, status_code = "rate_limited", 429
    needs_wait = True

    def __init__(self, *, retry_after: int, reason: str | None = None) -> None:
        super().__init__(retry_after=max(1, int(retry_after)))
        self.reason = reason  # which limit (for the audit log; not shown to clients)

    def extra(self) -> dict[str, Any]:
        return {"retry_after": self.retry_after}


class InvalidCode(ServiceError):
    code, status_code = "invalid_code", 400
    param_names = ("attempts_left",)

    def __init__(self, *, attempts_left: int) -> None:
        super().__init__(attempts_left=attempts_left)

    def extra(self) -> dict[str, Any]:
        return {"attempts_left": self.params["attempts_left"]}


class TooManyAttempts(ServiceError):
    code, status_code = "too_many_attempts", 429

    def extra(self) -> dict[str, Any]:
        return {"attempts_left": 0}


class NotAuthenticated(ServiceError):
    code, status_code = "not_authenticated", 401

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class AccountBlocked(ServiceError):
    """An operator blocked the account: it cannot sign in or change anything until it is unblocked."""

    code, status_code = "account_blocked", 403


class SessionNotFound(ServiceError):
    """No live session of this user has the id: another user's id answers the same as a made-up one."""

    code, status_code = "session_not_found", 404


class NotFound(ServiceError):
    """What is not there, or not for this caller: the console answers it to everyone who is not an operator."""

    code, status_code = "not_found", 404


class ReauthRequired(ServiceError):
    """An operator's action needs a recent sign-in (ADMIN_REAUTH_MINUTES): confirm with a fresh code first."""

    code, status_code = "reauth_required", 403


class ReasonRequired(ServiceError):
    """Every operator action is kept in the audit trail with the reason the operator typed."""

    code, status_code = "reason_required", 422
    param_names = ("limit",)

    def __init__(self, *, limit: int) -> None:
        super().__init__(limit=limit)


class InviteCodeNotFound(ServiceError):
    code, status_code = "invite_code_not_found", 404


class OwnInviteCode(ServiceError):
    code, status_code = "own_invite_code", 400


class InviteAlreadyActivated(ServiceError):
    code, status_code = "invite_already_activated", 409


class ReferralCycle(ServiceError):
    code, status_code = "referral_cycle", 409


class ServiceUnavailable(ServiceError):
    """The database cannot be reached; the request changed nothing and may be retried."""

    code, status_code = "service_unavailable", 503

    def __init__(self) -> None:
        super().__init__(retry_after=5)


def unexpected_error(exc: BaseException, log: logging.Logger, where: str) -> ServiceError:
    """The error to answer for an exception that is not a ServiceError, logged. A database outage (see
    is_database_outage) is ServiceUnavailable; anything else the generic internal error, logged with its class,
    message and traceback — a database error without SQLAlchemy's rendering, which quotes the parameters."""
    if is_database_outage(exc):
        log.error("database unavailable %s: %s", where, describe_database_error(exc))
        return ServiceUnavailable()
    if isinstance(exc, sa.exc.StatementError):
        stack = "".join(traceback.format_tb(exc.__traceback__))
        log.error(
            "unhandled error %s: %s\nTraceback (most recent call last):\n%s",
            where,
            describe_database_error(exc),
            stack,
        )
    else:
        log.error("unhandled error %s", where, exc_info=exc)
    return ServiceError()


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -(10**9) < value < 10**9

"""The security audit trail: who did what, when and from where — never a code or a token."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import TypedDict, TypeVar, Unpack

from sqlmodel import Session

from referral_app.core.clock import utcnow
from referral_app.core.db import transaction
from referral_app.limits import REFUSALS_PER_AUDIT_ROW
from referral_app.models import AuditEvent
from referral_app.services.errors import ServiceError

E = TypeVar("E", bound=ServiceError)


class Event(StrEnum):
    CODE_REQUESTED = "code_requested"
    CODE_REFUSED = "code_refused"  # detail: the limit that refused it
    CODE_SENT = "code_sent"
    SMS_FAILED = "sms_failed"  # detail: what failed (the exception's class); the code was withdrawn
    WRONG_CODE = "wrong_code"  # detail: the error answered (invalid_code, too_many_attempts, rate_limited)
    VERIFY_REFUSED = "verify_refused"  # detail: the limit (phone_locked, verify_ip_limit); not evaluated
    CODE_BURNED = "code_burned"
    PHONE_LOCKED = "phone_locked"
    LOGIN = "login"
    NEW_USER = "new_user"
    TOKEN_REVOKED = "token_revoked"  # noqa: S105  (an event name)
    INVITE_ACTIVATED = "invite_activated"  # detail: the activated code
    INVITE_REJECTED = "invite_rejected"  # detail: the reason (error code)


class EventFields(TypedDict, total=False):
    phone: str | None
    user_id: int | None
    client_ip: str | None
    detail: str | None


def record(session: Session, event: Event, **fields: Unpack[EventFields]) -> None:
    """Add the event to the caller's transaction: it is kept exactly when the action is."""
    session.add(AuditEvent(created_at=utcnow(), event=event.value, **fields))


def record_alone(session: Session, event: Event, **fields: Unpack[EventFields]) -> None:
    """Record an event in a transaction of its own (for actions that have none, or were rolled back)."""
    with transaction(session, write=True):
        record(session, event, **fields)


# Refusals seen by this process and not yet written, per (event, detail): see record_refusal.
_unwritten: dict[tuple[str, str | None], int] = {}
_unwritten_lock = threading.Lock()


def record_refusal(session: Session, event: Event, **fields: Unpack[EventFields]) -> None:
    """Audit a refusal without a write per request: the first of its kind (event and detail) is written at
    once, then one row per REFUSALS_PER_AUDIT_ROW more, its detail saying how many (`phone_locked x10`), with
    the fields of the refusal that completed the batch. Counts live in the process, so a process that stops
    loses at most the last few of each kind; a flood costs one write per batch, not one per request."""
    key = (event.value, fields.get("detail"))
    with _unwritten_lock:
        first = key not in _unwritten
        pending = 1 if first else _unwritten[key] + 1
        if not first and pending < REFUSALS_PER_AUDIT_ROW:
            _unwritten[key] = pending
            return
        _unwritten[key] = 0
    if not first:
        fields = {**fields, "detail": f"{fields.get('detail')} x{pending}"}
    record_alone(session, event, **fields)


def forget_refusals() -> None:
    """Start counting refusals afresh (tests)."""
    with _unwritten_lock:
        _unwritten.clear()


@contextlib.contextmanager
def refusals_recorded(
    session: Session,
    refusal: type[E] | tuple[type[E], ...],
    event: Event,
    *,
    detail: Callable[[E], str | None],
    sampled: bool = False,
    phone: str | None = None,
    user_id: int | None = None,
    client_ip: str | None = None,
) -> Iterator[None]:
    """Refuse, audit, raise: when the block raises `refusal` (its transaction already rolled back), the
    refusal is recorded as `event` on its own — one row each, or `sampled` by record_refusal — and the
    error goes on to the caller."""
    try:
        yield
    except refusal as refused:
        write = record_refusal if sampled else record_alone
        write(session, event, phone=phone, user_id=user_id, client_ip=client_ip, detail=detail(refused))
        raise

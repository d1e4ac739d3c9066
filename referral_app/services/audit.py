"""The security audit trail: who did what, when and from where — never a code or a token."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import TypedDict, TypeVar, Unpack

from sqlmodel import Session

from referral_app.core.clock import utcnow
from referral_app.core.db import transaction
from referral_app.models import AuditEvent
from referral_app.services.errors import ServiceError

E = TypeVar("E", bound=ServiceError)


class Event(StrEnum):
    CODE_REQUESTED = "code_requested"
    CODE_REFUSED = "code_refused"  # detail: the limit that refused it
    CODE_SENT = "code_sent"
    WRONG_CODE = "wrong_code"  # detail: the error answered (invalid_code, too_many_attempts, rate_limited)
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


@contextlib.contextmanager
def refusals_recorded(
    session: Session,
    refusal: type[E],
    event: Event,
    *,
    detail: Callable[[E], str | None],
    phone: str | None = None,
    user_id: int | None = None,
    client_ip: str | None = None,
) -> Iterator[None]:
    """Refuse, audit, raise: when the block raises `refusal` (its transaction already rolled back), the
    refusal is recorded as `event` on its own, and the error goes on to the caller."""
    try:
        yield
    except refusal as refused:
        record_alone(session, event, phone=phone, user_id=user_id, client_ip=client_ip, detail=detail(refused))
        raise

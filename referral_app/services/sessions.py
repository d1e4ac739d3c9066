"""The sessions a user's tokens are: listing them, signing one or all of them out (logout)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Session, col, select

from referral_app.core.clock import utcnow
from referral_app.core.db import transaction
from referral_app.models import AuthToken
from referral_app.services import audit, devices
from referral_app.services.audit import Event
from referral_app.services.auth import active_token
from referral_app.services.errors import SessionNotFound
from referral_app.services.users import lock_account


class LogoutScope(StrEnum):
    CURRENT = "current"  # this token
    OTHERS = "others"  # every other session of mine ("sign out everywhere else")
    ALL = "all"  # every session of mine, this one too


@dataclass(frozen=True)
class DeviceSession:
    id: int
    device_id: int | None  # the device (services/devices.py) it signed in on: sessions of one browser share it
    device_label: str | None
    client_ip: str | None  # masked
    created_at: datetime
    last_used_at: datetime | None
    current: bool  # the session of the token that asked


def _live(user_id: int) -> sa.ColumnElement[bool]:
    return sa.and_(
        col(AuthToken.user_id) == user_id,
        col(AuthToken.revoked_at).is_(None),
        col(AuthToken.expires_at) > utcnow(),
    )


def list_sessions(session: Session, *, token: str | None) -> list[DeviceSession]:
    """The live sessions of the token's user, the most recently used first, the asking one marked."""
    with transaction(session):
        me = active_token(session, token)
        rows = session.exec(
            select(AuthToken)
            .where(_live(me.user_id))
            .order_by(col(AuthToken.last_used_at).desc(), col(AuthToken.id).desc())
        ).all()
        return [_device_session(row, current=row.id == me.id) for row in rows]


def _device_session(row: AuthToken, *, current: bool) -> DeviceSession:
    assert row.id is not None
    return DeviceSession(
        id=row.id,
        device_id=row.device_id,
        device_label=row.device_label,
        client_ip=row.client_ip,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        current=current,
    )


def revoke_tokens(session: Session, where: sa.ColumnElement[bool], *, reason: str, client_ip: str | None) -> int:
    """In the caller's write transaction: revoke every live token `where` selects, one audit event each
    (detail: why). Returns how many were revoked."""
    rows = session.exec(select(AuthToken.id, AuthToken.user_id).where(where, col(AuthToken.revoked_at).is_(None)))
    revoked = rows.all()
    if revoked:
        session.execute(
            sa.update(AuthToken)
            .where(
                col(AuthToken.id).in_([token_id for token_id, _ in revoked]), col(AuthToken.revoked_at).is_(None)
            )
            .values(revoked_at=utcnow())
        )
    for token_id, user_id in revoked:
        audit.record(
            session, Event.TOKEN_REVOKED, user_id=user_id, client_ip=client_ip, detail=f"{reason}:{token_id}"
        )
    return len(revoked)


def revoke_session(session: Session, *, token: str | None, session_id: int, client_ip: str | None = None) -> int:
    """Sign one of my sessions out (the current one too, if that is the id); `session_not_found` for an id
    that is not a live session of mine, another user's included. Returns the sessions ended (1)."""
    with transaction(session, write=True):
        me = active_token(session, token)
        lock_account(session, me.user_id)
        if not revoke_tokens(
            session,
            sa.and_(_live(me.user_id), col(AuthToken.id) == session_id),
            reason="revoked",
            client_ip=client_ip,
        ):
            raise SessionNotFound()
    return 1


def logout(
    session: Session, *, token: str | None, scope: LogoutScope = LogoutScope.CURRENT, client_ip: str | None = None
) -> int:
    """Revoke this token, every other session of its user, or all of them; they are never accepted again.
    Returns how many sessions ended."""
    # A write transaction from the start: on SQLite a read transaction cannot become a write once another
    # connection has written ("database is locked" at once). The UPDATE's guard makes it race-safe anyway.
    with transaction(session, write=True):
        me = active_token(session, token)
        lock_account(session, me.user_id)
        chosen = {
            LogoutScope.CURRENT: col(AuthToken.id) == me.id,
            LogoutScope.OTHERS: sa.and_(_live(me.user_id), col(AuthToken.id) != me.id),
            LogoutScope.ALL: _live(me.user_id),
        }[LogoutScope(scope)]
        ended = revoke_tokens(session, chosen, reason=f"logout_{scope}", client_ip=client_ip)
        if scope != LogoutScope.CURRENT:
            # Signed out everywhere (else): the other browsers' device tokens count as strangers' from now on.
            mine = session.get(AuthToken, me.id)
            keep = mine.device_id if mine is not None and scope == LogoutScope.OTHERS else None
            devices.revoke(
                session,
                sa.and_(devices.of_user(me.user_id), sa.not_(devices.by_id(keep)) if keep else sa.true()),
                reason=f"logout_{scope}",
                client_ip=client_ip,
                now=utcnow(),
            )
        return ended

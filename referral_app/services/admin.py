"""The operator's console: who is an operator, and every rule of what the console shows and does.

An operator is a user with `is_admin`, granted and removed only from the command line (`grant`, `remove`).
Every console call names the caller by their session token and is checked here, in its own transaction, every
time: whoever is not a live, unblocked operator gets `not_found`, as for a page that does not exist. An action
(anything that changes something) also needs a sign-in at most ADMIN_REAUTH_MINUTES old (`reauth_required`)
and a reason typed by the operator; it is audited with the operator's user id, the reason and the target user.

Lists are paged on the server, `CONSOLE_PAGE_SIZE` rows a page, each read by an index (models.py) so that they
stay fast with a million users: a page is fetched one row long to tell whether another follows, without a count.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar, cast

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from referral_app.core.clock import utcnow
from referral_app.core.config import Settings, get_settings
from referral_app.core.db import transaction
from referral_app.limits import (
    ADMIN_CHAIN_MAX,
    ADMIN_CSV_MAX_ROWS,
    ADMIN_FLAG_ACTIVATIONS_PER_CLIENT,
    ADMIN_FLAG_QUICK_ACTIVATION_SECONDS,
    ADMIN_FLAG_ROWS_MAX,
    ADMIN_PAGE_MAX,
    ADMIN_REASON_MAX_LENGTH,
    ADMIN_SEARCH_MAX_LENGTH,
    AUDIT_DETAIL_MAX_LENGTH,
    CONSOLE_PAGE_SIZE,
)
from referral_app.models import AuditEvent, AuthToken, Device, SignInGuard, User
from referral_app.services import audit, devices, refusal_cache
from referral_app.services.account import erase_account
from referral_app.services.audit import Event
from referral_app.services.auth import active_token, revoke_tokens
from referral_app.services.errors import (
    InvalidPhone,
    NotAuthenticated,
    NotFound,
    ReasonRequired,
    ReauthRequired,
    SessionNotFound,
)
from referral_app.services.phones import mask_phone, normalize_phone
from referral_app.services.referrals import REFERRAL_GRAPH_LOCK, normalize_invite_code
from referral_app.services.users import get_or_create_user

log = logging.getLogger(__name__)


# --- who is an operator -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operator:
    user_id: int
    phone: str
    signed_in_at: datetime  # when the session's token was issued (a sign-in with a code)


def _operator(session: Session, token: str | None, *, fresh: bool, s: Settings) -> Operator:
    try:
        me = active_token(session, token)
    except NotAuthenticated:
        raise NotFound() from None
    row = session.execute(
        sa.select(
            col(User.id),
            col(User.phone),
            col(User.is_admin),
            col(User.deleted_at),
            col(User.blocked_at),
            col(AuthToken.created_at),
        )
        .join(AuthToken, col(AuthToken.user_id) == col(User.id))
        .where(col(AuthToken.id) == me.id)
    ).first()
    if row is None or not row.is_admin or row.deleted_at is not None or row.blocked_at is not None:
        raise NotFound()
    if fresh and utcnow() - row.created_at > timedelta(minutes=s.admin_reauth_minutes):
        raise ReauthRequired()
    return Operator(user_id=row.id, phone=row.phone, signed_in_at=row.created_at)


def require_operator(
    session: Session, *, token: str | None, fresh: bool = False, settings: Settings | None = None
) -> Operator:
    """The operator the token signs in, or NotFound for anyone else; with `fresh`, ReauthRequired when the
    token's sign-in is older than ADMIN_REAUTH_MINUTES."""
    with transaction(session):
        return _operator(session, token, fresh=fresh, s=settings or get_settings())


@dataclass(frozen=True)
class OperatorListing:
    id: int
    phone: str
    name: str | None
    last_login_at: datetime | None


def grant(
    session: Session, *, phone: str, by: str, region: str | None = None, settings: Settings | None = None
) -> tuple[OperatorListing, bool]:
    """Make the phone's user an operator, creating the account when the number has none (they sign in with
    it as everyone does). Returns (operator, whether it changed); audited with `by` (who ran the command)."""
    s = settings or get_settings()
    e164 = normalize_phone(phone, region, default_region=s.default_region)
    with transaction(session, f"phone:{e164}"):
        user, _ = get_or_create_user(session, phone=e164, settings=s)
        assert user.id is not None
        changed = not user.is_admin
        if changed:
            session.execute(sa.update(User).where(col(User.id) == user.id).values(is_admin=True))
            audit.record(session, Event.ADMIN_GRANTED, user_id=user.id, phone=e164, detail=_detail(f"by {by}"))
        listing = OperatorListing(id=user.id, phone=e164, name=user.name, last_login_at=user.last_login_at)
    return listing, changed


def remove(
    session: Session, *, phone: str, by: str, region: str | None = None, settings: Settings | None = None
) -> bool:
    """Take the operator role from the phone's user (NotFound when the number has no account); audited.
    Returns whether it changed. Their open console tabs are refused from their next call."""
    s = settings or get_settings()
    e164 = normalize_phone(phone, region, default_region=s.default_region)
    with transaction(session, f"phone:{e164}"):
        user = session.exec(select(User).where(User.phone == e164)).first()
        if user is None:
            raise NotFound()
        changed = user.is_admin
        if changed:
            session.execute(sa.update(User).where(col(User.id) == user.id).values(is_admin=False))
            audit.record(session, Event.ADMIN_REMOVED, user_id=user.id, phone=e164, detail=_detail(f"by {by}"))
    return changed


def list_operators(session: Session) -> list[OperatorListing]:
    with transaction(session):
        rows = session.exec(select(User).where(col(User.is_admin)).order_by(col(User.id))).all()
        return [
            OperatorListing(id=u.id or 0, phone=u.phone, name=u.name, last_login_at=u.last_login_at) for u in rows
        ]


# --- users --------------------------------------------------------------------------------------------------


class UserSort(StrEnum):
    JOINED = "joined"  # the newest accounts first
    LAST_SIGN_IN = "last_sign_in"  # the most recent sign-in first (accounts that never signed in are left out)
    REFERRALS = "referrals"  # the most referrals first (inviters only)


@dataclass(frozen=True)
class UserRow:
    id: int
    phone: str
    name: str | None
    email: str | None
    invite_code: str
    created_at: datetime
    last_login_at: datetime | None
    referrals: int
    is_admin: bool
    blocked: bool
    deleted: bool


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int  # from 0
    has_more: bool


def _page_number(page: int) -> int:
    return max(0, min(int(page), ADMIN_PAGE_MAX))


def _paged(items: Sequence[T], page: int) -> Page[T]:
    return Page(items=list(items[:CONSOLE_PAGE_SIZE]), page=page, has_more=len(items) > CONSOLE_PAGE_SIZE)


def _search_condition(query: str, s: Settings) -> sa.ColumnElement[bool] | None:
    """What a typed query matches, by its shape: a phone number in any usual form; an email (any case); else an
    invite code or the start of a name (any case). Each by an index: the two last as a union of two indexed
    reads, since one OR over both would read the whole table."""
    text = " ".join(query.split())[:ADMIN_SEARCH_MAX_LENGTH]
    if not text:
        return None
    try:
        return col(User.phone) == normalize_phone(text, None, default_region=s.default_region)
    except InvalidPhone:
        pass
    if "@" in text:
        return func.lower(col(User.email)) == text.lower()
    pattern = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    by_code = sa.select(col(User.id)).where(col(User.invite_code) == normalize_invite_code(text))
    by_name = sa.select(col(User.id)).where(func.lower(col(User.name)).like(pattern, escape="\\"))
    return col(User.id).in_(sa.union(by_code, by_name))


def _referral_counts(session: Session, user_ids: list[int]) -> dict[int, int]:
    if not user_ids:
        return {}
    rows = session.execute(
        sa.select(col(User.referrer_id), func.count())
        .where(col(User.referrer_id).in_(user_ids))
        .group_by(col(User.referrer_id))
    ).all()
    return {int(referrer): int(count) for referrer, count in rows}


def _user_row(user: Any, referrals: int) -> UserRow:
    return UserRow(
        id=user.id,
        phone=user.phone,
        name=user.name,
        email=user.email,
        invite_code=user.invite_code,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
        referrals=referrals,
        is_admin=bool(user.is_admin),
        blocked=user.blocked_at is not None,
        deleted=user.deleted_at is not None,
    )


def find_users(
    session: Session,
    *,
    token: str | None,
    query: str = "",
    sort: str = UserSort.JOINED,
    page: int = 0,
    settings: Settings | None = None,
) -> Page[UserRow]:
    """Users matching `query` (phone in any usual form, email, invite code or the start of a name; everyone
    when empty), sorted by `sort`, one page."""
    s = settings or get_settings()
    page = _page_number(page)
    order = UserSort(sort) if sort in UserSort.__members__.values() else UserSort.JOINED
    with transaction(session):
        _operator(session, token, fresh=False, s=s)
        condition = _search_condition(query, s)
        statement: Any
        if order == UserSort.REFERRALS:
            counts = (
                sa.select(col(User.referrer_id).label("inviter"), func.count().label("referrals"))
                .where(col(User.referrer_id).is_not(None))
                .group_by(col(User.referrer_id))
                .subquery()
            )
            statement = (
                sa.select(User, counts.c.referrals)
                .join(counts, counts.c.inviter == col(User.id))
                .order_by(counts.c.referrals.desc(), col(User.id).desc())
            )
        else:
            statement = sa.select(User, sa.literal(0).label("referrals"))
            if order == UserSort.LAST_SIGN_IN:
                statement = statement.where(col(User.last_login_at).is_not(None)).order_by(
                    col(User.last_login_at).desc(), col(User.id).desc()
                )
            else:
                statement = statement.order_by(col(User.created_at).desc(), col(User.id).desc())
        if condition is not None:
            statement = statement.where(condition)
        rows = session.execute(statement.offset(page * CONSOLE_PAGE_SIZE).limit(CONSOLE_PAGE_SIZE + 1)).all()
        counted = (
            {row[0].id: int(row[1]) for row in rows}
            if order == UserSort.REFERRALS
            else _referral_counts(session, [row[0].id for row in rows])
        )
        return _paged([_user_row(row[0], counted.get(row[0].id, 0)) for row in rows], page)


@dataclass(frozen=True)
class ChainLink:
    id: int
    phone: str
    invite_code: str
    deleted: bool


@dataclass(frozen=True)
class SessionRow:
    id: int
    device_id: int | None
    device_label: str | None
    client_ip: str | None
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True)
class DeviceRow:
    id: int
    label: str | None
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime


class LockScope(StrEnum):
    STRANGERS = "strangers"  # everyone without a live device token of the phone
    ALL_DEVICES = "all_devices"  # every device of the phone together
    DEVICE = "device"  # one device


@dataclass(frozen=True)
class LockRow:
    scope: LockScope
    device: str  # the guard key ("" strangers, "*" all devices, else the start of a device id's hash)
    locked_until: datetime
    failures: float


@dataclass(frozen=True)
class UserDetail:
    user: UserRow
    activated_at: datetime | None
    inviters: list[ChainLink]  # who invited them, who invited that one, ... (at most ADMIN_CHAIN_MAX)
    sessions: list[SessionRow]  # live, the most recently used first
    devices: list[DeviceRow]  # live, the most recently used first
    locks: list[LockRow] = field(default_factory=list)  # on their phone, now


def _lock_scope(key: str) -> LockScope:
    if key == devices.STRANGERS:
        return LockScope.STRANGERS
    return LockScope.ALL_DEVICES if key == devices.ALL_DEVICES else LockScope.DEVICE


def _target(session: Session, user_id: int) -> User:
    user = session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None:
        raise NotFound()
    return user


def user_detail(
    session: Session, *, token: str | None, user_id: int, settings: Settings | None = None
) -> UserDetail:
    s = settings or get_settings()
    now = utcnow()
    with transaction(session):
        _operator(session, token, fresh=False, s=s)
        user = _target(session, user_id)
        inviters: list[ChainLink] = []
        seen = {user_id}
        referrer_id = user.referrer_id
        while referrer_id is not None and referrer_id not in seen and len(inviters) < ADMIN_CHAIN_MAX:
            seen.add(referrer_id)
            inviter = session.get(User, referrer_id)
            if inviter is None:
                break
            inviters.append(
                ChainLink(referrer_id, inviter.phone, inviter.invite_code, inviter.deleted_at is not None)
            )
            referrer_id = inviter.referrer_id
        tokens = session.exec(
            select(AuthToken)
            .where(
                col(AuthToken.user_id) == user_id,
                col(AuthToken.revoked_at).is_(None),
                col(AuthToken.expires_at) > now,
            )
            .order_by(col(AuthToken.last_used_at).desc(), col(AuthToken.id).desc())
        ).all()
        live_devices = session.exec(
            select(Device)
            .where(col(Device.user_id) == user_id, col(Device.revoked_at).is_(None), col(Device.expires_at) > now)
            .order_by(col(Device.last_used_at).desc(), col(Device.id).desc())
        ).all()
        guards = session.exec(
            select(SignInGuard)
            .where(col(SignInGuard.phone) == user.phone, col(SignInGuard.locked_until) > now)
            .order_by(col(SignInGuard.device))
        ).all()
        return UserDetail(
            user=_user_row(user, _referral_counts(session, [user_id]).get(user_id, 0)),
            activated_at=user.invite_activated_at,
            inviters=inviters,
            sessions=[
                SessionRow(t.id or 0, t.device_id, t.device_label, t.client_ip, t.created_at, t.last_used_at)
                for t in tokens
            ],
            devices=[
                DeviceRow(d.id or 0, d.label, d.created_at, d.last_used_at, d.expires_at) for d in live_devices
            ],
            locks=[
                LockRow(_lock_scope(g.device), g.device, cast(datetime, g.locked_until), g.failures)
                for g in guards
            ],
        )


@dataclass(frozen=True)
class ReferralRow:
    id: int
    phone: str
    activated_at: datetime | None


def user_referrals(
    session: Session, *, token: str | None, user_id: int, page: int = 0, settings: Settings | None = None
) -> Page[ReferralRow]:
    """Who activated the user's invite code, the newest first (the index on referrer_id, activated_at)."""
    page = _page_number(page)
    with transaction(session):
        _operator(session, token, fresh=False, s=settings or get_settings())
        rows = session.execute(
            sa.select(col(User.id), col(User.phone), col(User.invite_activated_at))
            .where(col(User.referrer_id) == user_id)
            .order_by(col(User.invite_activated_at).desc(), col(User.id).desc())
            .offset(page * CONSOLE_PAGE_SIZE)
            .limit(CONSOLE_PAGE_SIZE + 1)
        ).all()
        return _paged([ReferralRow(r.id, r.phone, r.invite_activated_at) for r in rows], page)


# --- the audit trail ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventRow:
    id: int
    created_at: datetime
    event: str
    user_id: int | None
    phone: str | None
    client_ip: str | None
    detail: str | None


@dataclass(frozen=True)
class AuditFilter:
    event: str = ""  # one kind (audit.Event), or every kind
    phone: str = ""  # any usual form; a deleted account's masked phone as shown
    client: str = ""  # the client address exactly as recorded
    since: datetime | None = None
    until: datetime | None = None
    user_id: int | None = None  # events by this user or naming their phone


def _event_row(e: AuditEvent) -> EventRow:
    return EventRow(e.id or 0, e.created_at, e.event, e.user_id, e.phone, e.client_ip, e.detail)


def _filtered_events(session: Session, wanted: AuditFilter, s: Settings) -> Any:
    statement = select(AuditEvent)
    if wanted.event:
        statement = statement.where(col(AuditEvent.event) == wanted.event)
    if wanted.phone.strip():
        try:
            phone = normalize_phone(wanted.phone, None, default_region=s.default_region)
        except InvalidPhone:
            phone = wanted.phone.strip()
        statement = statement.where(col(AuditEvent.phone) == phone)
    if wanted.client.strip():
        statement = statement.where(col(AuditEvent.client_ip) == wanted.client.strip())
    if wanted.since is not None:
        statement = statement.where(col(AuditEvent.created_at) >= wanted.since)
    if wanted.until is not None:
        statement = statement.where(col(AuditEvent.created_at) < wanted.until)
    if wanted.user_id is not None:
        user = _target(session, wanted.user_id)
        statement = statement.where(
            sa.or_(col(AuditEvent.user_id) == wanted.user_id, col(AuditEvent.phone) == user.phone)
        )
    return statement.order_by(col(AuditEvent.created_at).desc(), col(AuditEvent.id).desc())


def audit_trail(
    session: Session, *, token: str | None, wanted: AuditFilter, page: int = 0, settings: Settings | None = None
) -> Page[EventRow]:
    """The audit events `wanted` selects, the newest first, one page."""
    s = settings or get_settings()
    page = _page_number(page)
    with transaction(session):
        _operator(session, token, fresh=False, s=s)
        statement = _filtered_events(session, wanted, s)
        rows = session.exec(statement.offset(page * CONSOLE_PAGE_SIZE).limit(CONSOLE_PAGE_SIZE + 1)).all()
        return _paged([_event_row(e) for e in rows], page)


CSV_COLUMNS = ("id", "created_at", "event", "user_id", "phone", "client_ip", "detail")


def audit_csv(
    session: Session,
    *,
    token: str | None,
    wanted: AuditFilter,
    client_ip: str | None = None,
    settings: Settings | None = None,
) -> str:
    """The newest ADMIN_CSV_MAX_ROWS events `wanted` selects as CSV (times in UTC, ISO 8601); the export is
    itself audited."""
    s = settings or get_settings()
    with transaction(session, write=True):
        operator = _operator(session, token, fresh=False, s=s)
        rows = session.exec(_filtered_events(session, wanted, s).limit(ADMIN_CSV_MAX_ROWS)).all()
        audit.record(
            session,
            Event.ADMIN_EXPORTED,
            user_id=operator.user_id,
            client_ip=client_ip,
            detail=f"{len(rows)} rows",
        )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for e in rows:
        values = [e.id, e.created_at.isoformat() + "Z", e.event, e.user_id, e.phone, e.client_ip, e.detail]
        # A cell a spreadsheet would run as a formula is written as text.
        writer.writerow(["'" + v if isinstance(v, str) and v[:1] in "=+-@\t\r" else v for v in values])
    return out.getvalue()


# --- actions on a user --------------------------------------------------------------------------------------


def _reason(reason: object) -> str:
    text = " ".join(reason.split()) if isinstance(reason, str) else ""
    if not text or len(text) > ADMIN_REASON_MAX_LENGTH:
        raise ReasonRequired(limit=ADMIN_REASON_MAX_LENGTH)
    return text


def _detail(text: str) -> str:
    return text[:AUDIT_DETAIL_MAX_LENGTH]


def _record_action(
    session: Session, event: Event, operator: Operator, target: User, what: str, reason: str, client_ip: str | None
) -> None:
    """The action's audit row: by the operator (user_id), about the target (phone, and `#id` in the detail)."""
    audit.record(
        session,
        event,
        user_id=operator.user_id,
        phone=target.phone,
        client_ip=client_ip,
        detail=_detail(f"#{target.id}{' ' + what if what else ''}: {reason}"),
    )


def _live_target(session: Session, user_id: int) -> User:
    user = _target(session, user_id)
    if user.deleted_at is not None:
        raise NotFound()
    return user


def sign_out(
    session: Session,
    *,
    token: str | None,
    user_id: int,
    reason: str,
    session_id: int | None = None,
    client_ip: str | None = None,
    settings: Settings | None = None,
) -> int:
    """End one live session of the user (`session_not_found` when it is not one), or all of them."""
    s = settings or get_settings()
    why = _reason(reason)
    with transaction(session, write=True):
        operator = _operator(session, token, fresh=True, s=s)
        target = _live_target(session, user_id)
        which = col(AuthToken.user_id) == user_id
        if session_id is not None:
            which = sa.and_(which, col(AuthToken.id) == session_id)
        live = sa.and_(which, col(AuthToken.expires_at) > utcnow())
        ended = revoke_tokens(session, live, reason=f"admin_{operator.user_id}", client_ip=client_ip)
        if session_id is not None and not ended:
            raise SessionNotFound()
        what = f"session {session_id}" if session_id is not None else f"{ended} sessions"
        _record_action(session, Event.ADMIN_SIGNED_OUT, operator, target, what, why, client_ip)
    return ended


def revoke_devices(
    session: Session,
    *,
    token: str | None,
    user_id: int,
    reason: str,
    device_id: int | None = None,
    client_ip: str | None = None,
    settings: Settings | None = None,
) -> int:
    """Revoke one live device of the user, or all of them: their device tokens count as strangers' from now."""
    s = settings or get_settings()
    why = _reason(reason)
    with transaction(session, write=True):
        operator = _operator(session, token, fresh=True, s=s)
        target = _live_target(session, user_id)
        which = devices.of_user(user_id)
        if device_id is not None:
            which = sa.and_(which, devices.by_id(device_id))
        now = utcnow()
        live = sa.and_(which, col(Device.expires_at) > now)
        revoked = devices.revoke(session, live, reason=f"admin_{operator.user_id}", client_ip=client_ip, now=now)
        if device_id is not None and not revoked:
            raise NotFound()
        what = f"device {device_id}" if device_id is not None else f"{revoked} devices"
        _record_action(session, Event.ADMIN_DEVICES_REVOKED, operator, target, what, why, client_ip)
    return revoked


def end_locks(
    session: Session,
    *,
    token: str | None,
    user_id: int,
    reason: str,
    client_ip: str | None = None,
    settings: Settings | None = None,
) -> int:
    """End every lock on the user's phone now (strangers', all devices', each device's): the guard rows'
    `locked_until` and failures are cleared, then the phone's cached refusals lifted in every process.
    Returns the locks ended; nothing is written or audited when there were none."""
    s = settings or get_settings()
    why = _reason(reason)
    with transaction(session):
        _operator(session, token, fresh=True, s=s)
        target_phone = _live_target(session, user_id).phone
    now = utcnow()
    with transaction(session, f"phone:{target_phone}"):
        operator = _operator(session, token, fresh=True, s=s)  # again, under the phone's lock
        target = _live_target(session, user_id)
        ended = session.execute(
            sa.update(SignInGuard)
            .where(col(SignInGuard.phone) == target.phone, col(SignInGuard.locked_until) > now)
            .values(locked_until=None, failures=0.0, updated_at=now)
            .returning(col(SignInGuard.device))
        ).all()
        if ended:
            what = f"{len(ended)} locks"
            _record_action(session, Event.ADMIN_LOCK_ENDED, operator, target, what, why, client_ip)
    refusal_cache.lift(target_phone)
    if ended:
        log.info("operator %s ended %d locks of %s", operator.user_id, len(ended), mask_phone(target_phone))
    return len(ended)


def set_blocked(
    session: Session,
    *,
    token: str | None,
    user_id: int,
    blocked: bool,
    reason: str,
    client_ip: str | None = None,
    settings: Settings | None = None,
) -> bool:
    """Block the account (its sessions end; its sign-ins and API calls answer `account_blocked`) or unblock
    it. Returns whether it changed; nothing is written when it was so already."""
    s = settings or get_settings()
    why = _reason(reason)
    with transaction(session, write=True):
        operator = _operator(session, token, fresh=True, s=s)
        target = _live_target(session, user_id)
        session.refresh(target, with_for_update=True)  # a concurrent block, unblock or deletion waits
        if (target.blocked_at is not None) == blocked:
            return False
        session.execute(
            sa.update(User).where(col(User.id) == user_id).values(blocked_at=utcnow() if blocked else None)
        )
        ended = 0
        if blocked:
            ended = revoke_tokens(
                session, col(AuthToken.user_id) == user_id, reason="account_blocked", client_ip=client_ip
            )
        event = Event.ADMIN_BLOCKED if blocked else Event.ADMIN_UNBLOCKED
        _record_action(session, event, operator, target, f"{ended} sessions" if blocked else "", why, client_ip)
    return True


def delete_user(
    session: Session,
    *,
    token: str | None,
    user_id: int,
    reason: str,
    client_ip: str | None = None,
    settings: Settings | None = None,
) -> None:
    """Delete the account with the same effects as its owner's own deletion (account.erase_account)."""
    s = settings or get_settings()
    why = _reason(reason)
    with transaction(session):
        _operator(session, token, fresh=True, s=s)
        phone = _live_target(session, user_id).phone
    with transaction(session, f"phone:{phone}", REFERRAL_GRAPH_LOCK):
        operator = _operator(session, token, fresh=True, s=s)  # again, under the locks
        target = _live_target(session, user_id)
        # Recorded first, while the phone is still the number's (erase_account masks every event of it).
        _record_action(session, Event.ADMIN_DELETED, operator, target, "", why, client_ip)
        erase_account(session, user_id=user_id, phone=phone, client_ip=client_ip)
    log.info("operator %s deleted account %s", operator.user_id, user_id)


# --- the overview -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    users_total: int
    users_today: int  # joined since midnight UTC
    sign_ins_hour: int
    failed_verifies_hour: int  # wrong codes in the last hour
    codes_sent_today: int
    phones_locked: int  # phones with a lock of any of their guards now
    activations_today: int


def _midnight(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _events_since(session: Session, event: Event, since: datetime) -> int:
    """Counted by the (event, created_at) index."""
    counted = session.execute(
        sa.select(func.count())
        .select_from(AuditEvent)
        .where(col(AuditEvent.event) == event.value, col(AuditEvent.created_at) >= since)
    ).scalar_one()
    return int(counted)


def figures(session: Session, *, token: str | None, settings: Settings | None = None) -> Figures:
    now = utcnow()
    today, hour_ago = _midnight(now), now - timedelta(hours=1)
    with transaction(session):
        _operator(session, token, fresh=False, s=settings or get_settings())
        live = col(User.deleted_at).is_(None)
        users_total = session.execute(sa.select(func.count()).select_from(User).where(live)).scalar_one()
        users_today = session.execute(  # by the index on created_at
            sa.select(func.count()).select_from(User).where(col(User.created_at) >= today, live)
        ).scalar_one()
        locked = session.execute(
            sa.select(func.count(func.distinct(col(SignInGuard.phone)))).where(col(SignInGuard.locked_until) > now)
        ).scalar_one()
        return Figures(
            users_total=int(users_total),
            users_today=int(users_today),
            sign_ins_hour=_events_since(session, Event.LOGIN, hour_ago),
            failed_verifies_hour=_events_since(session, Event.WRONG_CODE, hour_ago),
            codes_sent_today=_events_since(session, Event.CODE_SENT, today),
            phones_locked=int(locked),
            activations_today=_events_since(session, Event.INVITE_ACTIVATED, today),
        )


@dataclass(frozen=True)
class DayCount:
    day: str  # YYYY-MM-DD (UTC)
    sign_ups: int
    activations: int


def _per_day(session: Session, column: Any, since: datetime) -> dict[str, int]:
    day = func.date(column)  # `date(timestamp)` on both SQLite (text) and PostgreSQL (a date)
    rows = session.execute(sa.select(day, func.count()).where(column >= since).group_by(day)).all()
    return {str(d): int(n) for d, n in rows}


def daily(session: Session, *, token: str | None, days: int, settings: Settings | None = None) -> list[DayCount]:
    """Sign-ups and invite activations per day over the last `days` days (today included), the oldest first;
    read by the indexes on users.created_at and users.invite_activated_at."""
    today = _midnight(utcnow())
    since = today - timedelta(days=days - 1)
    with transaction(session):
        _operator(session, token, fresh=False, s=settings or get_settings())
        sign_ups = _per_day(session, col(User.created_at), since)
        activations = _per_day(session, col(User.invite_activated_at), since)
    labels = [(since + timedelta(days=n)).date().isoformat() for n in range(days)]
    return [DayCount(day, sign_ups.get(day, 0), activations.get(day, 0)) for day in labels]


# --- referrals ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inviter:
    id: int
    phone: str
    name: str | None
    activations: int


def leaderboard(
    session: Session,
    *,
    token: str | None,
    since: datetime,
    until: datetime,
    limit: int,
    settings: Settings | None = None,
) -> list[Inviter]:
    """The inviters whose codes were activated most in [since, until), most first."""
    with transaction(session):
        _operator(session, token, fresh=False, s=settings or get_settings())
        counts = (
            sa.select(col(User.referrer_id).label("inviter"), func.count().label("activations"))
            .where(col(User.invite_activated_at) >= since, col(User.invite_activated_at) < until)
            .group_by(col(User.referrer_id))
            .subquery()
        )
        rows = session.execute(
            sa.select(col(User.id), col(User.phone), col(User.name), counts.c.activations)
            .join(counts, counts.c.inviter == col(User.id))
            .order_by(counts.c.activations.desc(), col(User.id))
            .limit(limit)
        ).all()
        return [Inviter(r.id, r.phone, r.name, int(r.activations)) for r in rows]


@dataclass(frozen=True)
class SharedClient:
    client_ip: str
    activations: int
    user_ids: list[int]  # who activated from it (at most ADMIN_FLAG_ROWS_MAX)


@dataclass(frozen=True)
class QuickActivation:
    user_id: int
    phone: str
    inviter_id: int | None
    seconds: int  # from sign-up to activation


@dataclass(frozen=True)
class Flags:
    shared_clients: list[SharedClient]  # ADMIN_FLAG_ACTIVATIONS_PER_CLIENT or more activations from one address
    quick: list[QuickActivation]  # activated within ADMIN_FLAG_QUICK_ACTIVATION_SECONDS of signing up


def flags(
    session: Session, *, token: str | None, since: datetime, until: datetime, settings: Settings | None = None
) -> Flags:
    """Activations worth a look in [since, until): many from one client address (the audit trail's
    invite_activated events), and activations seconds after the account was created."""
    with transaction(session):
        _operator(session, token, fresh=False, s=settings or get_settings())
        in_period = sa.and_(
            col(AuditEvent.event) == Event.INVITE_ACTIVATED.value,
            col(AuditEvent.created_at) >= since,
            col(AuditEvent.created_at) < until,
            col(AuditEvent.client_ip).is_not(None),
        )
        busy = session.execute(
            sa.select(col(AuditEvent.client_ip), func.count().label("n"))
            .where(in_period)
            .group_by(col(AuditEvent.client_ip))
            .having(func.count() >= ADMIN_FLAG_ACTIVATIONS_PER_CLIENT)
            .order_by(sa.desc("n"))
            .limit(ADMIN_FLAG_ROWS_MAX)
        ).all()
        shared = []
        for client_ip, count in busy:
            ids = session.execute(
                sa.select(col(AuditEvent.user_id))
                .where(in_period, col(AuditEvent.client_ip) == client_ip)
                .distinct()
                .limit(ADMIN_FLAG_ROWS_MAX)
            ).scalars()
            shared.append(SharedClient(client_ip, int(count), sorted(i for i in ids if i is not None)))
        # Activations in the period, by the index on invite_activated_at; the gap is measured here (date
        # arithmetic differs between SQLite and PostgreSQL). Bounded: the newest ADMIN_CSV_MAX_ROWS.
        activated = session.execute(
            sa.select(
                col(User.id),
                col(User.phone),
                col(User.referrer_id),
                col(User.created_at),
                col(User.invite_activated_at),
            )
            .where(col(User.invite_activated_at) >= since, col(User.invite_activated_at) < until)
            .order_by(col(User.invite_activated_at).desc())
            .limit(ADMIN_CSV_MAX_ROWS)
        ).all()
    quick: list[QuickActivation] = []
    for row in activated:
        seconds = (row.invite_activated_at - row.created_at).total_seconds()
        if seconds <= ADMIN_FLAG_QUICK_ACTIVATION_SECONDS and len(quick) < ADMIN_FLAG_ROWS_MAX:
            quick.append(QuickActivation(row.id, row.phone, row.referrer_id, max(0, int(seconds))))
    return Flags(shared_clients=shared, quick=quick)

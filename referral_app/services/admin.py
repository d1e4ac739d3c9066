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
from decimal import Decimal
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
    ADMIN_FLAG_CHAIN_LINK_SECONDS,
    ADMIN_FLAG_CHAIN_MIN_LINKS,
    ADMIN_FLAG_QUICK_ACTIVATION_SECONDS,
    ADMIN_FLAG_ROWS_MAX,
    ADMIN_PAGE_MAX,
    ADMIN_REASON_MAX_LENGTH,
    ADMIN_SEARCH_MAX_LENGTH,
    ADMIN_TREE_DEPTH,
    ADMIN_TREE_NODES_MAX,
    AUDIT_DETAIL_MAX_LENGTH,
    CONSOLE_PAGE_SIZE,
    E164_MAX_LENGTH,
)
from referral_app.models import AuditEvent, AuthToken, Device, SignInGuard, SmsMessage, User
from referral_app.services import audit, devices, refusal_cache
from referral_app.services.account import erase_account
from referral_app.services.audit import Event
from referral_app.services.auth import active_token
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
from referral_app.services.sessions import revoke_tokens
from referral_app.services.sms.base import Status as SmsStatus
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
    reason: str,
    user_id: int | None = None,
    phone: str | None = None,
    client_ip: str | None = None,
    settings: Settings | None = None,
) -> int:
    """End every lock on the user's phone now (strangers', all devices', each device's), or on `phone` (E.164),
    which a stranger may have locked before anyone signed up with it: the guard rows' `locked_until` and
    failures are cleared, then the phone's cached refusals lifted in every process. Returns the locks ended;
    nothing is written or audited when there were none."""
    s = settings or get_settings()
    why = _reason(reason)
    with transaction(session):
        _operator(session, token, fresh=True, s=s)
        if user_id is not None:
            target_phone = _live_target(session, user_id).phone
        elif isinstance(phone, str) and phone.startswith("+") and len(phone) <= E164_MAX_LENGTH:
            target_phone = phone
        else:
            raise NotFound()
    now = utcnow()
    with transaction(session, f"phone:{target_phone}"):
        operator = _operator(session, token, fresh=True, s=s)  # again, under the phone's lock
        target = (
            _live_target(session, user_id)
            if user_id is not None
            else session.exec(
                select(User).where(User.phone == target_phone, col(User.deleted_at).is_(None))
            ).first()
        )
        ended = session.execute(
            sa.update(SignInGuard)
            .where(col(SignInGuard.phone) == target_phone, col(SignInGuard.locked_until) > now)
            .values(locked_until=None, failures=0.0, updated_at=now)
            .returning(col(SignInGuard.device))
        ).all()
        if ended:
            what = f"{len(ended)} locks"
            if target is not None:
                _record_action(session, Event.ADMIN_LOCK_ENDED, operator, target, what, why, client_ip)
            else:  # a number no account has
                audit.record(
                    session,
                    Event.ADMIN_LOCK_ENDED,
                    user_id=operator.user_id,
                    phone=target_phone,
                    client_ip=client_ip,
                    detail=_detail(f"{what}: {why}"),
                )
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
    sms_delivered_today: int
    sms_failed_today: int  # undelivered, or failed (no provider took it, or one rejected it)
    sms_spend_today: dict[str, Decimal]  # currency -> what providers reported for today's messages


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
        sms = _sms_since(session, today)
        return Figures(
            users_total=int(users_total),
            users_today=int(users_today),
            sign_ins_hour=_events_since(session, Event.LOGIN, hour_ago),
            failed_verifies_hour=_events_since(session, Event.WRONG_CODE, hour_ago),
            codes_sent_today=_events_since(session, Event.CODE_SENT, today),
            phones_locked=int(locked),
            activations_today=_events_since(session, Event.INVITE_ACTIVATED, today),
            sms_delivered_today=sms.delivered,
            sms_failed_today=sms.failed,
            sms_spend_today=sms.spend,
        )


@dataclass(frozen=True)
class DayCount:
    day: str  # YYYY-MM-DD (UTC)
    sign_ups: int
    activations: int
    sms_sent: int  # messages a provider took
    sms_delivered: int


def _per_day(session: Session, column: Any, since: datetime, *where: Any) -> dict[str, int]:
    day = func.date(column)  # `date(timestamp)` on both SQLite (text) and PostgreSQL (a date)
    rows = session.execute(sa.select(day, func.count()).where(column >= since, *where).group_by(day)).all()
    return {str(d): int(n) for d, n in rows}


def daily(session: Session, *, token: str | None, days: int, settings: Settings | None = None) -> list[DayCount]:
    """Sign-ups, invite activations, SMS sent and SMS delivered per day over the last `days` days (today
    included), the oldest first; read by the indexes on users.created_at, users.invite_activated_at and
    sms_messages.created_at (an SMS counts on the day it was sent, whenever its receipt came)."""
    today = _midnight(utcnow())
    since = today - timedelta(days=days - 1)
    with transaction(session):
        _operator(session, token, fresh=False, s=settings or get_settings())
        sign_ups = _per_day(session, col(User.created_at), since)
        activations = _per_day(session, col(User.invite_activated_at), since)
        sent = _per_day(session, col(SmsMessage.created_at), since, col(SmsMessage.provider) != "")
        delivered = _per_day(
            session, col(SmsMessage.created_at), since, col(SmsMessage.status) == SmsStatus.DELIVERED.value
        )
    labels = [(since + timedelta(days=n)).date().isoformat() for n in range(days)]
    return [
        DayCount(day, sign_ups.get(day, 0), activations.get(day, 0), sent.get(day, 0), delivered.get(day, 0))
        for day in labels
    ]


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
class AccountChain:
    """Accounts each invited by the one before, from the inviter at the top down to the last new account."""

    user_ids: list[int]
    phones: list[str]


@dataclass(frozen=True)
class Flags:
    shared_clients: list[SharedClient]  # ADMIN_FLAG_ACTIVATIONS_PER_CLIENT or more activations from one address
    quick: list[QuickActivation]  # activated within ADMIN_FLAG_QUICK_ACTIVATION_SECONDS of signing up
    chains: list[AccountChain] = field(default_factory=list)  # chains of new accounts, the longest first


def _new_account_chains(session: Session, activated: Sequence[Any]) -> list[AccountChain]:
    """Chains of new accounts among `activated` (id, phone, referrer_id, created_at, invite_activated_at rows):
    a link is an account that activated its inviter's code at most ADMIN_FLAG_CHAIN_LINK_SECONDS after its own
    sign-up; ADMIN_FLAG_CHAIN_MIN_LINKS or more links in a row (A invited B, B invited C, ...) make a chain,
    which starts at the inviter of its first link (that one need not be new). Each chain ends at an account no
    link starts from; branches give a chain each."""
    links = {
        row.id: row
        for row in activated
        if row.referrer_id is not None
        and 0 <= (row.invite_activated_at - row.created_at).total_seconds() <= ADMIN_FLAG_CHAIN_LINK_SECONDS
    }
    starts = {row.referrer_id for row in links.values()}
    paths = []
    for end in sorted(set(links) - starts):
        path = [end]
        while path[0] in links and links[path[0]].referrer_id not in path:
            path.insert(0, links[path[0]].referrer_id)
        if len(path) - 1 >= ADMIN_FLAG_CHAIN_MIN_LINKS:
            paths.append(path)
    paths.sort(key=lambda p: (-len(p), p[-1]))
    paths = paths[:ADMIN_FLAG_ROWS_MAX]
    tops = {p[0] for p in paths} - set(links)
    phones = {row.id: row.phone for row in links.values()}
    if tops:
        phones.update(
            session.execute(sa.select(col(User.id), col(User.phone)).where(col(User.id).in_(tops))).all()
        )
    return [AccountChain(p, [phones.get(i, "") for i in p]) for p in paths]


def flags(
    session: Session, *, token: str | None, since: datetime, until: datetime, settings: Settings | None = None
) -> Flags:
    """Activations worth a look in [since, until): many from one client address (the audit trail's
    invite_activated events), activations seconds after the account was created, and chains of new accounts
    (_new_account_chains)."""
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
        chains = _new_account_chains(session, activated)
    quick: list[QuickActivation] = []
    for row in activated:
        seconds = (row.invite_activated_at - row.created_at).total_seconds()
        if seconds <= ADMIN_FLAG_QUICK_ACTIVATION_SECONDS and len(quick) < ADMIN_FLAG_ROWS_MAX:
            quick.append(QuickActivation(row.id, row.phone, row.referrer_id, max(0, int(seconds))))
    return Flags(shared_clients=shared, quick=quick, chains=chains)


@dataclass(frozen=True)
class TreeNode:
    id: int
    phone: str
    depth: int  # 1: invited by the user, 2: by one of those, ...
    inviter_id: int
    activated_at: datetime | None
    referrals: int  # everyone they invited, shown or not


@dataclass(frozen=True)
class ReferralTree:
    nodes: list[TreeNode]  # depth first: each account followed by the accounts it invited
    complete: bool  # False when ADMIN_TREE_DEPTH or ADMIN_TREE_NODES_MAX left accounts out


def referral_tree(
    session: Session, *, token: str | None, user_id: int, settings: Settings | None = None
) -> ReferralTree:
    """Everyone under the user, level by level (one indexed read of referrer_id a level), at most
    ADMIN_TREE_DEPTH levels and ADMIN_TREE_NODES_MAX accounts: the earliest activations of a level first."""
    with transaction(session):
        _operator(session, token, fresh=False, s=settings or get_settings())
        _target(session, user_id)
        below: dict[int, list[Any]] = {}
        depth_of: dict[int, int] = {}
        level, complete = [user_id], True
        for depth in range(1, ADMIN_TREE_DEPTH + 1):
            room = ADMIN_TREE_NODES_MAX - len(depth_of)
            if not level or room <= 0:
                break
            rows = session.execute(
                sa.select(col(User.id), col(User.phone), col(User.referrer_id), col(User.invite_activated_at))
                .where(col(User.referrer_id).in_(level))
                .order_by(col(User.invite_activated_at), col(User.id))
                .limit(room + 1)
            ).all()
            if len(rows) > room:
                complete, rows = False, rows[:room]
            level = [r.id for r in rows if r.id not in depth_of and r.id != user_id]
            for r in rows:
                if r.id in level:
                    below.setdefault(r.referrer_id, []).append(r)
                    depth_of[r.id] = depth
        counts = _referral_counts(session, list(depth_of))
    nodes: list[TreeNode] = []

    def walk(inviter: int) -> None:
        for r in below.get(inviter, []):
            nodes.append(
                TreeNode(r.id, r.phone, depth_of[r.id], inviter, r.invite_activated_at, counts.get(r.id, 0))
            )
            walk(r.id)

    walk(user_id)
    # Someone invited by a shown account and not shown themselves: the tree is cut there.
    shown_below = {inviter: len(rows) for inviter, rows in below.items()}
    if any(counts.get(n.id, 0) > shown_below.get(n.id, 0) for n in nodes):
        complete = False
    return ReferralTree(nodes=nodes, complete=complete)


# --- security: the phones locked now --------------------------------------------------------------------------


@dataclass(frozen=True)
class LockedPhone:
    phone: str
    user_id: int | None  # the number's live account; a stranger may lock a number no one signed up with
    scope: LockScope
    locked_until: datetime
    failures: float


def locked_phones(
    session: Session, *, token: str | None, page: int = 0, settings: Settings | None = None
) -> Page[LockedPhone]:
    """Every lock in force now (one row per guard: strangers', all devices', one device's), the soonest to
    end first, by the index on locked_until; `end_locks(phone=...)` ends a phone's."""
    page = _page_number(page)
    now = utcnow()
    with transaction(session):
        _operator(session, token, fresh=False, s=settings or get_settings())
        rows = session.execute(
            sa.select(
                col(SignInGuard.phone),
                col(SignInGuard.device),
                col(SignInGuard.locked_until),
                col(SignInGuard.failures),
                col(User.id).label("user_id"),
            )
            .outerjoin(User, sa.and_(col(User.phone) == col(SignInGuard.phone), col(User.deleted_at).is_(None)))
            .where(col(SignInGuard.locked_until) > now)
            .order_by(col(SignInGuard.locked_until), col(SignInGuard.phone), col(SignInGuard.device))
            .offset(page * CONSOLE_PAGE_SIZE)
            .limit(CONSOLE_PAGE_SIZE + 1)
        ).all()
        return _paged(
            [LockedPhone(r.phone, r.user_id, _lock_scope(r.device), r.locked_until, r.failures) for r in rows],
            page,
        )


# --- SMS: the ledger ------------------------------------------------------------------------------------------

SMS_FAILED = (SmsStatus.UNDELIVERED.value, SmsStatus.FAILED.value)


@dataclass(frozen=True)
class SmsRow:
    id: str
    created_at: datetime
    phone: str
    provider: str  # "" when no provider took it
    status: str  # services/sms/base.py: Status
    cost: Decimal | None
    currency: str | None
    error: str | None


@dataclass(frozen=True)
class SmsFilter:
    status: str = ""  # one status, or every one
    provider: str = ""  # one provider's name, or every one


def sms_messages(
    session: Session, *, token: str | None, wanted: SmsFilter, page: int = 0, settings: Settings | None = None
) -> Page[SmsRow]:
    """The ledger's messages `wanted` selects, the newest first, one page (by the index on created_at, or on
    (status, created_at) / (provider, created_at) when filtered)."""
    page = _page_number(page)
    with transaction(session):
        _operator(session, token, fresh=False, s=settings or get_settings())
        statement = select(SmsMessage)
        if wanted.status:
            statement = statement.where(col(SmsMessage.status) == wanted.status)
        if wanted.provider:
            statement = statement.where(col(SmsMessage.provider) == wanted.provider)
        rows = session.exec(
            statement.order_by(col(SmsMessage.created_at).desc(), col(SmsMessage.id).desc())
            .offset(page * CONSOLE_PAGE_SIZE)
            .limit(CONSOLE_PAGE_SIZE + 1)
        ).all()
        return _paged(
            [SmsRow(m.id, m.created_at, m.phone, m.provider, m.status, m.cost, m.currency, m.error) for m in rows],
            page,
        )


@dataclass(frozen=True)
class ProviderDay:
    provider: str  # "" for the messages no provider took
    sent: int  # taken by the provider
    delivered: int
    failed: int  # undelivered or failed


@dataclass(frozen=True)
class SmsDay:
    messages: int  # every SMS the service tried to send
    sent: int  # taken by a provider
    delivered: int
    failed: int  # undelivered or failed, no provider's included
    spend: dict[str, Decimal]  # currency -> the cost providers reported
    providers: list[ProviderDay]  # by name; "" (no provider took it) first

    @property
    def delivery_rate(self) -> float | None:
        """Delivered of those a provider took (messages still on their way count as not delivered yet)."""
        return self.delivered / self.sent if self.sent else None


def _sms_since(session: Session, since: datetime) -> SmsDay:
    """Two grouped reads of the messages since `since`, by the index on created_at."""
    since_then = col(SmsMessage.created_at) >= since
    counted = session.execute(
        sa.select(col(SmsMessage.provider), col(SmsMessage.status), func.count())
        .where(since_then)
        .group_by(col(SmsMessage.provider), col(SmsMessage.status))
    ).all()
    spent = session.execute(
        sa.select(col(SmsMessage.currency), func.sum(col(SmsMessage.cost)))
        .where(since_then, col(SmsMessage.cost).is_not(None), col(SmsMessage.currency).is_not(None))
        .group_by(col(SmsMessage.currency))
        .order_by(col(SmsMessage.currency))
    ).all()
    per_provider: dict[str, list[int]] = {}
    for provider, status, count in counted:
        sent, delivered, failed = per_provider.setdefault(provider, [0, 0, 0])
        per_provider[provider] = [
            sent + (count if provider else 0),
            delivered + (count if status == SmsStatus.DELIVERED.value else 0),
            failed + (count if status in SMS_FAILED else 0),
        ]
    providers = [ProviderDay(name, *per_provider[name]) for name in sorted(per_provider)]
    return SmsDay(
        messages=sum(int(count) for _, _, count in counted),
        sent=sum(p.sent for p in providers),
        delivered=sum(p.delivered for p in providers),
        failed=sum(p.failed for p in providers),
        spend={str(currency): Decimal(str(total)) for currency, total in spent},
        providers=providers,
    )


def sms_today(session: Session, *, token: str | None, settings: Settings | None = None) -> SmsDay:
    """Today's SMS (since midnight UTC): sent, delivered, failed, spend, and each provider's."""
    with transaction(session):
        _operator(session, token, fresh=False, s=settings or get_settings())
        return _sms_since(session, _midnight(utcnow()))

"""Users: creation with a unique random invite code, and the profile view and edits."""

from __future__ import annotations

import logging
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import email_validator
import sqlalchemy as sa
from sqlmodel import Session, col, select

from referral_app.core.clock import utcnow
from referral_app.core.config import Settings, get_settings
from referral_app.core.db import InsertUnlessPresent, PreparedRead, transaction
from referral_app.limits import NAME_MAX_LENGTH, PROFILE_REFERRALS, REFERRALS_PAGE_DEFAULT, REFERRALS_PAGE_MAX
from referral_app.models import User
from referral_app.services import webhooks
from referral_app.services.errors import AccountBlocked, InvalidEmail, InvalidName, NotAuthenticated

log = logging.getLogger(__name__)

INVITE_CODE_RETRIES = 50


@dataclass(frozen=True)
class Referral:
    phone: str
    joined_at: datetime  # when they activated the user's invite code (naive UTC)


@dataclass(frozen=True)
class Profile:
    id: int
    phone: str
    invite_code: str
    activated_invite_code: str | None
    invited_by: str | None  # the phone of the user whose code was activated (None once they deleted it)
    inviter_deleted: bool  # the user whose code was activated has deleted their account
    name: str | None
    email: str | None
    referrals: list[Referral]  # the newest first
    referrals_count: int
    created_at: datetime


@dataclass(frozen=True)
class ReferralPage:
    items: list[Referral]
    total: int
    limit: int
    offset: int


def new_invite_code(settings: Settings) -> str:
    return "".join(secrets.choice(settings.invite_code_alphabet) for _ in range(settings.invite_code_length))


def get_or_create_user(session: Session, *, phone: str, settings: Settings | None = None) -> tuple[User, bool]:
    """Inside the caller's transaction. Returns (user, created)."""
    user = session.exec(select(User).where(User.phone == phone)).first()  # a tombstone's phone is freed
    if user is not None:
        return user, False
    created = _insert_user(session, phone, utcnow(), None, settings or get_settings())
    if created is None:  # created concurrently by another login of the same phone
        return session.exec(select(User).where(User.phone == phone)).one(), False
    user = session.get(User, created)
    assert user is not None
    return user, True


def sign_in_user(
    session: Session, *, phone: str, now: datetime, settings: Settings | None = None
) -> tuple[int, bool]:
    """get_or_create_user for a sign-in, inside the caller's write transaction: the user's id, with
    `last_login_at` set to `now`, created on the first login. Returns (id, created); AccountBlocked for a blocked
    account. A returning user is one Core statement (an UPDATE that returns the id), with no ORM object loaded."""
    touched = session.execute(_TOUCH_LOGIN, {"e164": phone, "now": now}).first()
    if touched is None:
        created = _insert_user(session, phone, now, now, settings or get_settings())
        if created is not None:
            return created, True
        touched = session.execute(_TOUCH_LOGIN, {"e164": phone, "now": now}).one()  # created concurrently
    if touched.blocked_at is not None:
        raise AccountBlocked()
    return touched.id, False


def lock_account(session: Session, user_id: int) -> None:
    """In the caller's write transaction, before it writes anything by user id: the account is live (else
    NotAuthenticated) and not blocked (else AccountBlocked), and stays so until the transaction ends — its row
    is locked on PostgreSQL (a concurrent deletion waits, or is waited for and seen), and SQLite has one writer."""
    row = session.execute(_LOCK_ACCOUNT, {"user_id": user_id}).first()
    if row is None or row.deleted_at is not None:
        raise NotAuthenticated()
    if row.blocked_at is not None:
        raise AccountBlocked()


def _insert_user(
    session: Session, phone: str, now: datetime, last_login_at: datetime | None, s: Settings
) -> int | None:
    """A new user's id, or None when the phone is taken. Invite-code uniqueness is enforced by the unique
    index (check-then-insert would race): INSERT ... ON CONFLICT DO NOTHING, and when no row comes back and
    the phone is free, the invite code collided: again with a new one. (No savepoint needed.)"""
    for _ in range(INVITE_CODE_RETRIES):
        row = {
            "phone": phone,
            "invite_code": new_invite_code(s),
            "created_at": now,
            "last_login_at": last_login_at,
        }
        created: int | None = _INSERT_NEW_USER.execute(session, row).scalar()
        if created is not None:
            webhooks.enqueue(session, webhooks.EventType.USER_CREATED, {"user_id": created})
            return created
        if session.execute(_USER_BY_PHONE, {"e164": phone}).first() is not None:
            return None
        log.info("invite code collision, retrying with a new code")
    raise RuntimeError("could not find a free invite code; widen INVITE_CODE_LENGTH or the alphabet")


# Built once, as Core statements over the table's columns: the profile is read on every page view and API
# call, and this skips the ORM's query building and object loading (a fresh aliased(User) per call once took
# half of the read's CPU). The referral count is a scalar subquery of the profile's one row.
_users = sa.inspect(User).local_table
_referrer = _users.alias("referrer")
_referred = _users.alias("referred")
_users_table = cast("sa.Table", _users)
_TOUCH_LOGIN = (
    sa.update(_users_table)
    .where(_users_table.c.phone == sa.bindparam("e164"))  # a tombstone's phone is freed
    .values(last_login_at=sa.bindparam("now"))
    .returning(_users_table.c.id, _users_table.c.blocked_at)
)
_LOCK_ACCOUNT = (
    sa.select(_users_table.c.deleted_at, _users_table.c.blocked_at)
    .where(_users_table.c.id == sa.bindparam("user_id"))
    .with_for_update()
)
_USER_BY_PHONE = sa.select(_users_table.c.id).where(_users_table.c.phone == sa.bindparam("e164"))
_INSERT_NEW_USER = InsertUnlessPresent(_users_table, _users_table.c.id)
_REFERRALS_COUNT = (
    sa.select(sa.func.count().label("total"))
    .select_from(_users)
    .where(_users.c.referrer_id == sa.bindparam("user_id"))
)
# The profile's row, for the services that pick it by something else (auth: by token) with `.where(...)`;
# a deleted account has none.
PROFILE_ROW = (
    sa.select(
        _users.c.id,
        _users.c.phone,
        _users.c.invite_code,
        _users.c.name,
        _users.c.email,
        _users.c.created_at,
        _referrer.c.invite_code.label("activated_invite_code"),
        _referrer.c.phone.label("invited_by"),
        _referrer.c.deleted_at.label("inviter_deleted_at"),
        sa.select(sa.func.count())
        .where(_referred.c.referrer_id == _users.c.id)
        .scalar_subquery()
        .label("referrals_count"),
    )
    .outerjoin(_referrer, _users.c.referrer_id == _referrer.c.id)
    .where(_users.c.deleted_at.is_(None))
)
_PROFILE_BY_ID = PreparedRead(PROFILE_ROW.where(_users.c.id == sa.bindparam("user_id")))
_REFERRALS_PAGE = PreparedRead(
    sa.select(_users.c.phone, _users.c.invite_activated_at)
    .where(_users.c.referrer_id == sa.bindparam("user_id"))
    .order_by(_users.c.invite_activated_at.desc(), _users.c.id.desc())
    .limit(sa.bindparam("limit"))
    .offset(sa.bindparam("offset"))
)
_REFERRALS_TOTAL = PreparedRead(_REFERRALS_COUNT)


def _referrals_page(session: Session, user_id: int, limit: int, offset: int = 0) -> list[Referral]:
    rows = _REFERRALS_PAGE.all(session, {"user_id": user_id, "limit": limit, "offset": offset})
    return _referrals([(phone, joined) for phone, joined in rows])


def _load_profile(session: Session, user_id: int, referrals_limit: int) -> Profile:
    """The profile in a constant number of queries (two; one without referrals), however many referrals there
    are."""
    row = _PROFILE_BY_ID.first(session, {"user_id": user_id})
    if row is None:
        raise NotAuthenticated()
    return profile_from_row(session, row, referrals_limit)


def profile_from_row(session: Session, row: Any, referrals_limit: int = PROFILE_REFERRALS) -> Profile:
    """The profile whose PROFILE_ROW is `row`, with its newest `referrals_limit` referrals (at most
    PROFILE_REFERRALS) read in the caller's transaction."""
    inviter_deleted = row.inviter_deleted_at is not None
    return Profile(
        id=row.id,
        phone=row.phone,
        invite_code=row.invite_code,
        activated_invite_code=row.activated_invite_code,
        invited_by=None if inviter_deleted else row.invited_by,
        inviter_deleted=inviter_deleted,
        name=row.name,
        email=row.email,
        # Most users invited no one: their empty page is known without reading it.
        referrals=_referrals_page(session, row.id, max(0, min(referrals_limit, PROFILE_REFERRALS)))
        if row.referrals_count
        else [],
        referrals_count=row.referrals_count,
        created_at=row.created_at,
    )


def _referrals(rows: Sequence[tuple[str, datetime | None]]) -> list[Referral]:
    # A referral always has its activation time (both are set by one UPDATE).
    return [Referral(phone=phone, joined_at=joined) for phone, joined in rows if joined is not None]


def get_profile(session: Session, *, user_id: int, referrals_limit: int = PROFILE_REFERRALS) -> Profile:
    """The profile with the newest `referrals_limit` referrals; NotAuthenticated when the user is gone
    (a deleted account's people keep their activation, with `inviter_deleted`)."""
    with transaction(session):
        return load_profile(session, user_id=user_id, referrals_limit=referrals_limit)


def load_profile(session: Session, *, user_id: int, referrals_limit: int = PROFILE_REFERRALS) -> Profile:
    """get_profile inside the caller's transaction (a sign-in's: one transaction fewer)."""
    return _load_profile(session, user_id, referrals_limit)


def list_referrals(
    session: Session, *, user_id: int, limit: int = REFERRALS_PAGE_DEFAULT, offset: int = 0
) -> ReferralPage:
    limit = max(1, min(limit, REFERRALS_PAGE_MAX))
    offset = max(0, offset)
    with transaction(session):
        items = _referrals_page(session, user_id, limit, offset)
        total = _REFERRALS_TOTAL.scalar(session, {"user_id": user_id})
    return ReferralPage(
        items=items,
        total=total,
        limit=limit,
        offset=offset,
    )


def normalize_email(raw: str) -> str:
    try:
        return email_validator.validate_email(raw, check_deliverability=False).normalized
    except email_validator.EmailNotValidError:
        raise InvalidEmail() from None


_UNSET = object()
_UNSTORABLE = ("Cc", "Cs")  # control characters, surrogates


def _clean_name(value: object) -> str | None:
    # Whitespace runs become one space; other control characters (NUL, ESC, DEL...) are invisible junk
    # that PostgreSQL partly refuses to store (NUL), and lone surrogates ("\ud800" in JSON) cannot be
    # encoded at all, so both are dropped.
    text = "".join(ch for ch in str(value or "") if ch.isspace() or unicodedata.category(ch) not in _UNSTORABLE)
    text = " ".join(text.split())
    if len(text) > NAME_MAX_LENGTH:
        raise InvalidName(limit=NAME_MAX_LENGTH)
    return text or None


def _clean_email(value: object) -> str | None:
    text = str(value or "").strip()
    return normalize_email(text) if text else None


def update_profile(session: Session, *, user_id: int, name: object = _UNSET, email: object = _UNSET) -> Profile:
    """Change the given fields; an empty string or None clears a field. Returns the updated profile."""
    values: dict[str, str | None] = {}
    if name is not _UNSET:
        values["name"] = _clean_name(name)
    if email is not _UNSET:
        values["email"] = _clean_email(email)
    if values:
        with transaction(session, write=True):
            lock_account(session, user_id)
            session.execute(sa.update(User).where(col(User.id) == user_id).values(**values))
    return get_profile(session, user_id=user_id)

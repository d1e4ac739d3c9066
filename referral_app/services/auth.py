"""Logging in with a code, bearer tokens (only their SHA-256 is stored), logout."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col

from referral_app.core.clock import utcnow
from referral_app.core.config import Settings, get_settings
from referral_app.core.db import transaction
from referral_app.core.net import requester_key
from referral_app.limits import DEVICE_TOKEN_MAX_LENGTH, TOKEN_MAX_LENGTH
from referral_app.models import AuthToken
from referral_app.services import audit, security
from referral_app.services.audit import Event
from referral_app.services.errors import NotAuthenticated, RateLimited
from referral_app.services.login_codes import check_verify_allowed, consume_code
from referral_app.services.phones import mask_phone, normalize_phone
from referral_app.services.server_keys import code_hmac_key, verification_keys
from referral_app.services.users import get_or_create_user

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoginResult:
    access_token: str
    expires_in: int
    is_new_user: bool
    user_id: int
    device_token: str  # keep it and send it with later sign-ins for this phone (see login_with_code)


def login_with_code(
    session: Session,
    *,
    phone: str,
    code: str,
    region: str | None = None,
    client_ip: str | None = None,
    device_token: str | None = None,
    settings: Settings | None = None,
) -> LoginResult:
    """Check the code; on success register (first login) or log in, and issue a token — atomically.

    `device_token` is the one an earlier successful sign-in for this phone returned: with it, failures count
    against that device's own budget instead of the one all strangers share, so strangers cannot lock the
    owner out there. Every success returns a device token (the same one when it was valid).
    A refusal by a limit (a locked phone, a requester over its hourly failures) is decided in a read-only
    transaction and audited sampled; a wrong code is committed as a failure (attempt counters and locks
    must stick) and then raised."""
    s = settings or get_settings()
    e164 = normalize_phone(phone, region, default_region=s.default_region)
    offered = (device_token or "")[:DEVICE_TOKEN_MAX_LENGTH]
    refusals = audit.refusals_recorded(
        session,
        RateLimited,
        Event.VERIFY_REFUSED,
        detail=lambda e: e.reason,
        sampled=True,
        phone=e164,
        client_ip=client_ip,
    )
    with refusals, transaction(session):
        device = security.device_of(verification_keys(session, s), e164, offered)
        check_verify_allowed(session, phone=e164, device=device, client_ip=client_ip, settings=s)
    requester = requester_key(client_ip, s.ipv6_prefix_length)
    with transaction(session, f"phone:{e164}", f"ip:{requester}"):
        failure = consume_code(session, phone=e164, code=code, device=device, client_ip=client_ip, settings=s)
        if failure is None:
            user, created = get_or_create_user(session, phone=e164, settings=s)
            assert user.id is not None
            user_id = user.id
            user.last_login_at = utcnow()
            token = _issue_token(session, user_id, s)
            # Signed with the current key: the same token when it was already, a fresh one after a rotation.
            offered = security.device_token(code_hmac_key(session, s), e164, device or security.new_device_id())
            if created:
                audit.record(session, Event.NEW_USER, phone=e164, user_id=user_id, client_ip=client_ip)
            audit.record(session, Event.LOGIN, phone=e164, user_id=user_id, client_ip=client_ip)
    if failure is not None:
        raise failure
    log.info("%s %s", "registered" if created else "logged in", mask_phone(e164))
    return LoginResult(
        access_token=token,
        expires_in=s.token_ttl_seconds,
        is_new_user=created,
        user_id=user_id,
        device_token=offered,
    )


def _issue_token(session: Session, user_id: int, s: Settings) -> str:
    token = security.new_access_token()
    now = utcnow()
    session.add(
        AuthToken(
            user_id=user_id,
            token_hash=security.token_hash(token),
            created_at=now,
            last_used_at=now,
            expires_at=now + timedelta(seconds=s.token_ttl_seconds),
        )
    )
    return token


@dataclass(frozen=True)
class _LiveToken:
    id: int
    user_id: int
    last_used_at: datetime | None


# Built once: the token check runs on every authenticated request, and a Core statement over the table's
# columns skips the ORM's query building and object loading.
_tokens = sa.inspect(AuthToken).local_table
_TOKEN_BY_HASH = sa.select(
    _tokens.c.id, _tokens.c.user_id, _tokens.c.last_used_at, _tokens.c.revoked_at, _tokens.c.expires_at
).where(_tokens.c.token_hash == sa.bindparam("token_hash"))


def _active_token(session: Session, token: str | None) -> _LiveToken:
    if not token or not token.startswith(security.TOKEN_PREFIX) or len(token) > TOKEN_MAX_LENGTH:
        raise NotAuthenticated()
    row = session.execute(_TOKEN_BY_HASH, {"token_hash": security.token_hash(token)}).first()
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        raise NotAuthenticated()
    return _LiveToken(id=row.id, user_id=row.user_id, last_used_at=row.last_used_at)


def authenticate(session: Session, *, token: str | None, settings: Settings | None = None) -> int:
    """Return the user id a live token belongs to, or raise NotAuthenticated."""
    s = settings or get_settings()
    with transaction(session):
        row = _active_token(session, token)
        token_id, user_id, last_used_at = row.id, row.user_id, row.last_used_at
    now = utcnow()
    # last_used_at is refreshed at most once per interval, so reads do not all become writes. The refresh
    # is a write transaction of its own: turning the read into a write fails at once on SQLite ("database
    # is locked", a 503) when another request wrote in between, e.g. the same token's refresh from a
    # concurrent request. The WHERE lets only the first of those concurrent refreshes write.
    interval = timedelta(seconds=s.token_touch_interval_seconds)
    if last_used_at is None or now - last_used_at >= interval:
        with transaction(session, f"token:{token_id}"):
            session.execute(
                sa.update(AuthToken)
                .where(
                    col(AuthToken.id) == token_id,
                    sa.or_(col(AuthToken.last_used_at).is_(None), col(AuthToken.last_used_at) <= now - interval),
                )
                .values(last_used_at=now)
            )
    return user_id


def logout(session: Session, *, token: str | None, client_ip: str | None = None) -> None:
    """Revoke the token server-side; it is never accepted again."""
    # A write transaction from the start: on SQLite a read transaction cannot become a write once another
    # connection has written ("database is locked" at once). The UPDATE's guard makes it race-safe anyway.
    with transaction(session, write=True):
        row = _active_token(session, token)
        session.execute(
            sa.update(AuthToken)
            .where(col(AuthToken.id) == row.id, col(AuthToken.revoked_at).is_(None))
            .values(revoked_at=utcnow())
        )
        audit.record(session, Event.TOKEN_REVOKED, user_id=row.user_id, client_ip=client_ip)

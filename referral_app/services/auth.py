"""Logging in with a code, and the bearer tokens it issues (only their SHA-256 is stored): checking and refreshing
them. The sessions they are, and logout, are services/sessions.py."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlmodel import Session, col

from referral_app.core.clock import utcnow
from referral_app.core.config import Settings, get_settings
from referral_app.core.db import PreparedRead, transaction
from referral_app.core.log_setup import log_phone
from referral_app.core.net import requester_key
from referral_app.limits import DEVICE_TOKEN_MAX_LENGTH, PROFILE_REFERRALS, TOKEN_MAX_LENGTH
from referral_app.models import AuthToken
from referral_app.services import audit, devices, refusal_cache, security
from referral_app.services.audit import Event
from referral_app.services.bridge import run_reads, run_with_session
from referral_app.services.devices import device_label, mask_ip
from referral_app.services.errors import NotAuthenticated
from referral_app.services.login_codes import (
    check_verify_allowed,
    consume_code,
    refuse_from_memory,
    test_mark,
    verify_checks,
)
from referral_app.services.phones import mask_phone, normalize_phone
from referral_app.services.server_keys import code_hmac_key, loaded_verification_keys, verification_keys
from referral_app.services.users import (
    PROFILE_ROW,
    Profile,
    load_profile,
    profile_from_row,
    sign_in_user,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoginResult:
    access_token: str
    expires_in: int
    is_new_user: bool
    user_id: int
    device_token: str  # keep it and send it with later sign-ins for this phone (see login_with_code)
    profile: Profile | None = None  # with `with_profile`: the user's profile, read in the sign-in's transaction


def login_with_code(
    session: Session,
    *,
    phone: str,
    code: str,
    region: str | None = None,
    client_ip: str | None = None,
    device_token: str | None = None,
    user_agent: str | None = None,
    settings: Settings | None = None,
    with_profile: bool = False,
) -> LoginResult:
    """Check the code; on success register (first login) or log in, and issue a token — atomically.

    `device_token` is the one an earlier successful sign-in for this phone returned: while its device row is
    live (services/devices.py), failures count against that device's own budget and the one the phone's devices
    share instead of the one all strangers share, so strangers cannot lock the owner out there. Every success
    returns a device token (the same one while its device is live) and ties the session to its device.
    A refusal by a limit (a locked phone, a requester over its hourly failures) is decided in a read-only
    transaction and audited sampled; a wrong code is committed as a failure (attempt counters and locks
    must stick) and then raised. The token's session shows a label read from `user_agent` and the IP masked.
    `with_profile` reads the user's profile (users.get_profile) in the same write transaction."""
    s = settings or get_settings()
    e164 = normalize_phone(phone, region, default_region=s.default_region)
    with verify_checks(session, phone=e164, client_ip=client_ip):
        device_id = security.device_of(
            verification_keys(session, s), e164, (device_token or "")[:DEVICE_TOKEN_MAX_LENGTH]
        )
        device = devices.recognised(session, phone=e164, device_id=device_id, now=utcnow())
        check_verify_allowed(session, phone=e164, device=device, client_ip=client_ip, settings=s)
    requester = requester_key(client_ip, s.ipv6_prefix_length)
    with transaction(session, f"phone:{e164}", f"ip:{requester}"):
        now = utcnow()
        device = devices.recognised(session, phone=e164, device_id=device_id, now=now)  # again, under the locks
        failure = consume_code(session, phone=e164, code=code, device=device, client_ip=client_ip, settings=s)
        if failure is None:
            user_id, created = sign_in_user(session, phone=e164, now=now, settings=s)
            if created:  # the number has a new owner: no device of an earlier account of it counts any more
                devices.revoke_phone(session, e164, reason="new_account", client_ip=client_ip, now=now)
            label = device_label(user_agent)
            device_row, device_id = devices.remember(
                session,
                user_id=user_id,
                phone=e164,
                device_id=device_id if device != devices.STRANGERS else "",
                label=label,
                now=now,
                client_ip=client_ip,
                settings=s,
            )
            token = _issue_token(session, user_id, s, label, mask_ip(client_ip), device_row)
            # Signed with the current key: the same token when it was already, a fresh one after a rotation.
            offered = security.device_token(code_hmac_key(session, s), e164, device_id)
            if created:
                audit.record(session, Event.NEW_USER, phone=e164, user_id=user_id, client_ip=client_ip)
            audit.record(
                session, Event.LOGIN, phone=e164, user_id=user_id, client_ip=client_ip, detail=test_mark(e164, s)
            )
            profile = load_profile(session, user_id=user_id) if with_profile else None
    if failure is not None:
        raise failure
    log.info("%s %s", "registered" if created else "logged in", mask_phone(e164))
    return LoginResult(
        access_token=token,
        expires_in=s.token_ttl_seconds,
        is_new_user=created,
        user_id=user_id,
        device_token=offered,
        profile=profile,
    )


async def sign_in(
    *,
    phone: str,
    code: str,
    region: str | None = None,
    client_ip: str | None = None,
    device_token: str | None = None,
    user_agent: str | None = None,
    with_profile: bool = False,
) -> LoginResult:
    """login_with_code from async code. A lock refusal_cache holds for this phone and device is answered on
    the event loop first (login_codes.refuse_from_memory), so a flood of guesses at a locked phone never
    reaches a worker thread; everything else is login_with_code, in one."""
    s = get_settings()
    e164 = normalize_phone(phone, region, default_region=s.default_region)
    log_phone(mask_phone(e164))
    try:
        keys = loaded_verification_keys(s)
    except KeyError:  # the demo key is not loaded yet (before the first start): the database path decides
        keys = None
    if keys is not None:
        # The token's own key, live or not: a lock cached for it was the database's answer for that device.
        device = devices.guard_key(security.device_of(keys, e164, (device_token or "")[:DEVICE_TOKEN_MAX_LENGTH]))
        await refuse_from_memory(
            lambda: refusal_cache.check_lock(e164, devices.guard_keys(device), utcnow()),
            Event.VERIFY_REFUSED,
            phone=e164,
            client_ip=client_ip,
        )
    return await run_with_session(
        login_with_code,
        phone=phone,
        code=code,
        region=region,
        client_ip=client_ip,
        device_token=device_token,
        user_agent=user_agent,
        with_profile=with_profile,
    )


def _issue_token(
    session: Session, user_id: int, s: Settings, label: str | None, masked_ip: str | None, device_id: int
) -> str:
    token = security.new_access_token()
    now = utcnow()
    session.execute(
        _INSERT_TOKEN,
        {
            "user_id": user_id,
            "token_hash": security.token_hash(token),
            "created_at": now,
            "last_used_at": now,
            "expires_at": now + timedelta(seconds=s.token_ttl_seconds),
            "device_label": label,
            "client_ip": masked_ip,
            "device_id": device_id,
        },
    )
    return token


@dataclass(frozen=True)
class LiveToken:
    id: int
    user_id: int
    touch_due: bool  # its last_used_at is older than TOKEN_TOUCH_INTERVAL_SECONDS: refresh it (touch_token)


# Built once: the token check runs on every authenticated request, and a Core statement over the table's
# columns skips the ORM's query building and object loading.
_tokens = sa.inspect(AuthToken).local_table
_INSERT_TOKEN = sa.insert(cast("sa.Table", _tokens))  # a Core insert: no ORM object and flush per login
_TOKEN_COLUMNS = (
    _tokens.c.id.label("token_id"),
    _tokens.c.user_id.label("token_user_id"),
    _tokens.c.last_used_at.label("token_last_used_at"),
    _tokens.c.revoked_at.label("token_revoked_at"),
    _tokens.c.expires_at.label("token_expires_at"),
)
_BY_HASH = _tokens.c.token_hash == sa.bindparam("token_hash")
_TOKEN_BY_HASH = PreparedRead(sa.select(*_TOKEN_COLUMNS).where(_BY_HASH))
# The token and its user's profile row in one statement: GET /profile's read, one round trip fewer.
_PROFILE_BY_TOKEN = PreparedRead(
    PROFILE_ROW.add_columns(*_TOKEN_COLUMNS)
    .join(_tokens, _tokens.c.user_id == PROFILE_ROW.selected_columns.id)
    .where(_BY_HASH)
)


def _hash_of(token: str | None) -> str:
    if not token or not token.startswith(security.TOKEN_PREFIX) or len(token) > TOKEN_MAX_LENGTH:
        raise NotAuthenticated()
    return security.token_hash(token)


def _live_token(row: Any, settings: Settings | None) -> LiveToken:
    """The token of a row with _TOKEN_COLUMNS, if it is live; NotAuthenticated otherwise."""
    now = utcnow()
    if row is None or row.token_revoked_at is not None or row.token_expires_at <= now:
        raise NotAuthenticated()
    last_used, interval = row.token_last_used_at, (settings or get_settings()).token_touch_interval_seconds
    due = last_used is None or now - last_used >= timedelta(seconds=interval)
    return LiveToken(id=row.token_id, user_id=row.token_user_id, touch_due=due)


def active_token(session: Session, token: str | None, settings: Settings | None = None) -> LiveToken:
    """The live token row `token` names, read in the caller's transaction; NotAuthenticated otherwise."""
    return _live_token(_TOKEN_BY_HASH.first(session, {"token_hash": _hash_of(token)}), settings)


def check_token(session: Session, *, token: str | None, settings: Settings | None = None) -> LiveToken:
    """Whose live token this is, and whether its last use is due to be recorded: a read, nothing written."""
    with transaction(session):
        return active_token(session, token, settings)


def profile_for_token(
    session: Session,
    *,
    token: str | None,
    referrals_limit: int = PROFILE_REFERRALS,
    settings: Settings | None = None,
) -> tuple[LiveToken, Profile]:
    """check_token, then users.get_profile for its user, in one read transaction and one statement fewer: the
    token's row and the profile's are read together (a deleted account's token finds no profile row:
    NotAuthenticated, as get_profile answers)."""
    with transaction(session):
        row = _PROFILE_BY_TOKEN.first(session, {"token_hash": _hash_of(token)})
        live = _live_token(row, settings)
        return live, profile_from_row(session, row, referrals_limit)


def touch_token(session: Session, *, token_id: int, settings: Settings | None = None) -> None:
    """Record a token's use now, at most once per TOKEN_TOUCH_INTERVAL_SECONDS (so reads do not all become
    writes): a write transaction of its own, whose WHERE lets only the first of concurrent refreshes write."""
    s = settings or get_settings()
    now = utcnow()
    interval = timedelta(seconds=s.token_touch_interval_seconds)
    with transaction(session, f"token:{token_id}"):
        session.execute(
            sa.update(AuthToken)
            .where(
                col(AuthToken.id) == token_id,
                sa.or_(col(AuthToken.last_used_at).is_(None), col(AuthToken.last_used_at) <= now - interval),
            )
            .values(last_used_at=now)
        )


def authenticate(session: Session, *, token: str | None, settings: Settings | None = None) -> int:
    """The user id a live token belongs to (NotAuthenticated otherwise), its use recorded when due."""
    checked = check_token(session, token=token, settings=settings)
    if checked.touch_due:
        touch_token(session, token_id=checked.id, settings=settings)
    return checked.user_id


async def authenticated(token: str | None) -> int:
    """authenticate from async code: the check as a read (bridge.run_reads), the refresh, when due, as a write
    of its own in a worker thread."""
    checked = await run_reads(check_token, token=token)
    await touch_if_due(checked)
    return checked.user_id


async def profile_of(token: str | None, referrals_limit: int = PROFILE_REFERRALS) -> Profile:
    """The profile of a live token's user from async code: profile_for_token as a read, then the token's
    refresh when due, as `authenticated` does."""
    checked, profile = await run_reads(profile_for_token, token=token, referrals_limit=referrals_limit)
    await touch_if_due(checked)
    return profile


async def touch_if_due(checked: LiveToken) -> None:
    if checked.touch_due:
        await run_with_session(touch_token, token_id=checked.id)

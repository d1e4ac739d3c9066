"""One-time SMS login codes: issuing with rate limits, delivery, and checking with attempt limits.

All limit state lives in the database (`login_codes`, `phone_guards`), so it holds across processes.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from referral_app.core.clock import utcnow
from referral_app.core.config import Settings, get_settings
from referral_app.core.db import rowcount, transaction
from referral_app.core.i18n import DEFAULT_LANGUAGE, translate
from referral_app.models import LoginCode, PhoneGuard
from referral_app.services import audit, security
from referral_app.services.audit import Event
from referral_app.services.bridge import run_with_session
from referral_app.services.errors import InvalidCode, RateLimited, ServiceError, TooManyAttempts
from referral_app.services.phones import mask_phone, normalize_phone
from referral_app.services.server_keys import code_hmac_key
from referral_app.services.sms import load_sender

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class IssuedCode:
    phone: str
    expires_in: int
    resend_in: int
    code_length: int
    debug_code: str | None = None  # the code itself, only in demo mode


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


def _check_phone_lock(guard: PhoneGuard | None, now: datetime) -> None:
    if guard is not None and guard.locked_until is not None and guard.locked_until > now:
        raise RateLimited(retry_after=_seconds_until(guard.locked_until, now), reason="phone_locked")


def _check_send_limits(session: Session, phone: str, client_ip: str | None, now: datetime, s: Settings) -> None:
    recent = session.exec(
        select(LoginCode.created_at)
        .where(LoginCode.phone == phone, LoginCode.created_at > now - HOUR)
        .order_by(col(LoginCode.created_at).desc())
        .limit(s.code_max_per_phone_per_hour)
    ).all()
    cooldown = timedelta(seconds=s.code_resend_cooldown_seconds)
    if recent and cooldown and recent[0] + cooldown > now:
        raise RateLimited(retry_after=_seconds_until(recent[0] + cooldown, now), reason="cooldown")
    if len(recent) >= s.code_max_per_phone_per_hour:
        raise RateLimited(retry_after=_seconds_until(recent[-1] + HOUR, now), reason="phone_hourly_limit")
    if client_ip is None:
        return
    # The window frees up when the N-th most recent request from this IP ages out of the hour.
    nth_latest = session.exec(
        select(LoginCode.created_at)
        .where(LoginCode.requester_ip == client_ip, LoginCode.created_at > now - HOUR)
        .order_by(col(LoginCode.created_at).desc())
        .offset(s.code_max_per_ip_per_hour - 1)
        .limit(1)
    ).first()
    if nth_latest is not None:
        raise RateLimited(retry_after=_seconds_until(nth_latest + HOUR, now), reason="ip_hourly_limit")


def issue_code(session: Session, *, phone: str, client_ip: str | None, settings: Settings | None = None) -> str:
    """Create a new code for an E.164 phone (replacing any earlier one) after checking every send limit.

    Returns the code in clear text: it must go only into the SMS (and, in demo mode, to the requester)."""
    s = settings or get_settings()
    refusals = audit.refusals_recorded(
        session, RateLimited, Event.CODE_REFUSED, detail=lambda e: e.reason, phone=phone, client_ip=client_ip
    )
    with refusals, transaction(session, f"phone:{phone}", f"ip:{client_ip}"):
        now = utcnow()
        _check_phone_lock(session.get(PhoneGuard, phone), now)
        _check_send_limits(session, phone, client_ip, now, s)
        code = security.new_numeric_code(s.code_length)
        session.add(
            LoginCode(
                phone=phone,
                code_hmac=security.code_hmac(code_hmac_key(session, s), phone, code),
                created_at=now,
                expires_at=now + timedelta(seconds=s.code_ttl_seconds),
                requester_ip=client_ip,
            )
        )
        audit.record(session, Event.CODE_REQUESTED, phone=phone, client_ip=client_ip)
    return code


async def send_login_code(
    *, phone: str, region: str | None, client_ip: str | None, settings: Settings | None = None
) -> IssuedCode:
    """The whole send-code flow: normalise, issue (rate-limited), wait for the simulated SMS gateway, send.

    The wait is an asyncio sleep and the database work runs in a worker thread, so hundreds of
    concurrent requests neither block the event loop nor hold threads while they wait.
    """
    s = settings or get_settings()
    e164 = normalize_phone(phone, region, default_region=s.default_region)

    code = await run_with_session(issue_code, phone=e164, client_ip=client_ip, settings=s)
    low, high = sorted((s.sms_delay_min, s.sms_delay_max))
    await asyncio.sleep(low + (high - low) * secrets.SystemRandom().random())
    await load_sender(s.sms_sender).send(e164, translate("sms.login_code", DEFAULT_LANGUAGE, code=code))
    await run_with_session(audit.record_alone, Event.CODE_SENT, phone=e164, client_ip=client_ip)
    log.info("login code sent to %s", mask_phone(e164))
    return IssuedCode(
        phone=e164,
        expires_in=s.code_ttl_seconds,
        resend_in=s.code_resend_cooldown_seconds,
        code_length=s.code_length,
        debug_code=code if s.demo_mode else None,
    )


def consume_code(
    session: Session, *, phone: str, code: str, client_ip: str | None = None, settings: Settings | None = None
) -> ServiceError | None:
    """Check `code` against the phone's latest code inside the caller's write transaction.

    Returns None when it matched (the code is now consumed), otherwise the error to report; the failure
    is already recorded (code attempts, the phone's consecutive failures, maybe a lock, the audit trail)
    and the caller must commit it before raising: attempt counters and locks must stick.
    """
    failure = _check_code(session, phone, code, settings or get_settings(), client_ip)
    if failure is not None:
        audit.record(session, Event.WRONG_CODE, phone=phone, client_ip=client_ip, detail=failure.code)
    return failure


def _check_code(
    session: Session, phone: str, code: str, s: Settings, client_ip: str | None
) -> ServiceError | None:
    now = utcnow()
    guard = session.get(PhoneGuard, phone)
    if guard is None:
        guard = PhoneGuard(phone=phone)
        session.add(guard)
    try:
        _check_phone_lock(guard, now)
    except RateLimited as locked:
        return locked

    latest = session.exec(
        select(LoginCode)
        .where(LoginCode.phone == phone)
        .order_by(col(LoginCode.created_at).desc(), col(LoginCode.id).desc())
        .limit(1)
    ).first()
    # The code a guess counts against: the latest one, while it is unused and alive.
    usable = latest if latest is not None and latest.consumed_at is None and latest.expires_at > now else None
    burned = usable is not None and usable.attempts >= s.code_max_attempts
    candidate = code.strip()
    if (
        usable is not None
        and not burned
        and security.codes_match(code_hmac_key(session, s), phone, candidate, usable.code_hmac)
    ):
        consumed = session.execute(
            sa.update(LoginCode)
            .where(col(LoginCode.id) == usable.id, col(LoginCode.consumed_at).is_(None))
            .values(consumed_at=now)
        )
        if rowcount(consumed) == 1:
            guard.failed_attempts, guard.locked_until, guard.updated_at = 0, None, now
            return None

    guard.failed_attempts += 1
    guard.updated_at = now
    if usable is not None and not burned:
        usable.attempts += 1
        burned = usable.attempts >= s.code_max_attempts
        if burned:
            audit.record(session, Event.CODE_BURNED, phone=phone, client_ip=client_ip)
    if guard.failed_attempts >= s.phone_max_failures:
        guard.failed_attempts = 0
        guard.locked_until = now + timedelta(seconds=s.phone_lock_seconds)
        log.warning("phone %s locked after %d failed codes", mask_phone(phone), s.phone_max_failures)
        audit.record(session, Event.PHONE_LOCKED, phone=phone, client_ip=client_ip)
        return RateLimited(retry_after=s.phone_lock_seconds)
    if burned:
        return TooManyAttempts()
    code_left = s.code_max_attempts - usable.attempts if usable is not None else 0
    return InvalidCode(attempts_left=min(code_left, s.phone_max_failures - guard.failed_attempts))


def purge_expired(session: Session, *, older_than: timedelta = timedelta(days=1)) -> int:
    """Delete codes no rule looks at any more (all limits look back at most an hour)."""
    with transaction(session, write=True):
        result = session.execute(sa.delete(LoginCode).where(col(LoginCode.created_at) < utcnow() - older_than))
    return rowcount(result)

"""One-time SMS login codes: issuing with rate limits, delivery, and checking with attempt limits.

All limit state lives in the database (`login_codes`, `sign_in_guards`, `rate_counters`), so it holds across
processes. A request that a limit refuses is refused in a read-only transaction first, so a flood of them
takes no write lock; the write transaction checks again under its locks. Refusals that nothing can lift before
a known moment (a lock, a settled cooldown or hourly limit) are also kept in the process (refusal_cache) and
answered before any database work.

Wrong guesses fill leaky buckets (sign_in_guards): PHONE_MAX_FAILURES in a row, then each drains at
(PHONE_MAX_FAILURES_PER_30_DAYS - PHONE_MAX_FAILURES) per 30 days, so in any 30 days at most
PHONE_MAX_FAILURES_PER_30_DAYS guesses fill it, and no lock lasts longer than a day. Everyone without a live
device token of the phone shares one bucket (strangers); a device holder fills its own device's bucket and the
one all the phone's devices share. So at most twice PHONE_MAX_FAILURES_PER_30_DAYS guesses are evaluated for a
phone in any 30 days, whoever makes them, and strangers' failures never lock the owner's devices.
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import sqlalchemy as sa
from sqlmodel import Session, col, select

from referral_app.core.clock import utcnow
from referral_app.core.config import Settings, get_settings
from referral_app.core.db import PreparedRead, rowcount, transaction
from referral_app.core.i18n import DEFAULT_LANGUAGE, translate
from referral_app.core.log_setup import log_phone
from referral_app.core.net import requester_key
from referral_app.limits import AUDIT_DETAIL_MAX_LENGTH, FAILURE_WINDOW_DAYS, LOCK_MAX_SECONDS
from referral_app.models import LoginCode, SignInGuard, Timestamp
from referral_app.services import audit, counters, refusal_cache, security
from referral_app.services.audit import Event
from referral_app.services.bridge import run_with_session
from referral_app.services.devices import ALL_DEVICES, STRANGERS, guard_keys
from referral_app.services.errors import (
    InvalidCode,
    RateLimited,
    ServiceError,
    SmsFailed,
    TooManyAttempts,
    UnsupportedNumber,
)
from referral_app.services.phones import mask_phone, normalize_phone, sms_country
from referral_app.services.refusal_cache import seconds_until as _seconds_until
from referral_app.services.server_keys import code_hmac_key
from referral_app.services.sms import delivery, ledger, polling
from referral_app.services.sms.base import Accepted

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)

# rate_counters names.
VERIFY_FAILURES = "verify_failures"  # key: the requester
SMS_TOTAL, SMS_TOTAL_KEY = "sms", "*"
SMS_COUNTRY = "sms_country"  # key: the country calling code


@dataclass(frozen=True)
class IssuedCode:
    phone: str
    expires_in: int
    resend_in: int
    code_length: int
    debug_code: str | None = None  # the code itself, only in demo mode


TEST_NUMBER = "test_number"  # the audit detail marking what a test number did (TEST_PHONE_NUMBERS)


def test_mark(phone: str, s: Settings) -> str | None:
    """The audit detail of an event of a test number, None for everyone else."""
    return TEST_NUMBER if phone in s.test_phone_numbers else None


# The send path's statements, built once (module level, bound parameters) and run on the session's
# connection: no ORM query building or object loading on the path every send takes, twice.
_codes = sa.inspect(LoginCode).local_table
_BY_PHONE, _BY_REQUESTER = 0, 1
_since = sa.bindparam("since", type_=Timestamp)
# One round trip for both logs: the phone's most recent codes of the hour (up to its hourly limit), and
# the requester's N-th most recent of the hour (none when it has fewer, or when the requester is NULL).
_SEND_LOG = PreparedRead(
    sa.union_all(
        sa.select(
            sa.select(sa.literal_column(str(_BY_PHONE)).label("whose"), _codes.c.created_at)
            .where(_codes.c.phone == sa.bindparam("phone"), _codes.c.created_at > _since)
            .order_by(_codes.c.created_at.desc())
            .limit(sa.bindparam("limit"))
            .subquery()
        ),
        sa.select(
            sa.select(sa.literal_column(str(_BY_REQUESTER)).label("whose"), _codes.c.created_at)
            .where(_codes.c.requester_ip == sa.bindparam("requester"), _codes.c.created_at > _since)
            .order_by(_codes.c.created_at.desc())
            .offset(sa.bindparam("offset"))
            .limit(1)
            .subquery()
        ),
    )
)
_INSERT_CODE = sa.insert(LoginCode)


def _check_send_limits(
    session: Session, phone: str, requester: str | None, country: str | None, now: datetime, s: Settings
) -> None:
    """Every send limit; the SMS budgets only when `country` is given (the write path spends them instead,
    which refuses atomically, so it need not read them first)."""
    # A locked phone still gets codes (within these limits): the owner may be signing in on a device whose
    # own budget is untouched, and strangers' guesses at the new code are refused by the lock unevaluated.
    refusal_cache.check_send(phone, now)  # a refusal known to hold: answered without a statement
    log_rows = _SEND_LOG.all(
        session,
        {
            "phone": phone,
            "requester": requester,
            "since": now - HOUR,
            "limit": s.code_max_per_phone_per_hour,
            "offset": s.code_max_per_ip_per_hour - 1,
        },
    )
    recent: list[datetime] = []
    nth_latest: datetime | None = None
    for whose, created_at in log_rows:
        if whose == _BY_PHONE:
            recent.append(created_at)
        else:
            nth_latest = created_at
    recent.sort(reverse=True)
    cooldown = timedelta(seconds=s.code_resend_cooldown_seconds)
    if recent and cooldown and recent[0] + cooldown > now:
        until = recent[0] + cooldown
        raise refusal_cache.send_refused(phone, "cooldown", until=until, newest=recent[0], now=now, settings=s)
    if len(recent) >= s.code_max_per_phone_per_hour:
        until = recent[-1] + HOUR
        raise refusal_cache.send_refused(
            phone, "phone_hourly_limit", until=until, newest=recent[0], now=now, settings=s
        )
    # The requester's window frees up when its N-th most recent request ages out of the hour.
    if nth_latest is not None:
        raise RateLimited(retry_after=_seconds_until(nth_latest + HOUR, now), reason="ip_hourly_limit")
    if country is not None:
        counters.check(session, *_sms_budgets(country, s), now=now)
        ledger.check_spend(session, now, s)


def _sms_budgets(country: str, s: Settings) -> tuple[counters.Limit, ...]:
    return (
        counters.Limit(SMS_TOTAL, SMS_TOTAL_KEY, s.sms_max_per_hour, "sms_budget"),
        counters.Limit(SMS_COUNTRY, country, s.sms_max_per_country_per_hour, "sms_country_budget"),
    )


def _spend_sms_budget(session: Session, country: str, now: datetime, s: Settings) -> None:
    budgets = _sms_budgets(country, s)
    spent = counters.take(session, *budgets, now=now)
    for budget in budgets:
        if spent[(budget.name, budget.key)] == budget.limit:
            log.critical(
                "ALERT: the hourly SMS budget is used up: %s %s (%d)", budget.name, budget.key, budget.limit
            )


def issue_code(
    session: Session,
    *,
    phone: str,
    client_ip: str | None,
    settings: Settings | None = None,
    sms_message_id: str | None = None,
) -> str:
    """Create a new code for an E.164 phone (replacing any earlier one) after checking every send limit;
    with `sms_message_id`, the ledger row of the SMS that will carry it, in the same transaction.

    Returns the code in clear text: it must go only into the SMS (and, in demo mode, to the requester)."""
    s = settings or get_settings()
    requester = requester_key(client_ip, s.ipv6_prefix_length)
    refusals = audit.refusals_recorded(
        session,
        (RateLimited, UnsupportedNumber),
        Event.CODE_REFUSED,
        detail=lambda e: e.reason,
        sampled=True,
        phone=phone,
        client_ip=client_ip,
    )
    with refusals:
        country = sms_country(phone, number_types=s.sms_number_types, allowed_regions=s.allowed_regions)
        with transaction(session):  # refused here, a request costs no write
            _check_send_limits(session, phone, requester, country, utcnow(), s)
        with transaction(session, f"phone:{phone}", f"ip:{requester}", write=True):
            now = utcnow()
            _check_send_limits(session, phone, requester, None, now, s)
            code = s.test_phone_numbers.get(phone) or security.new_numeric_code(s.code_length)
            session.connection().execute(
                _INSERT_CODE,
                {
                    "phone": phone,
                    "code_hmac": security.code_hmac(code_hmac_key(session, s), phone, code),
                    "created_at": now,
                    "expires_at": now + timedelta(seconds=s.code_ttl_seconds),
                    "attempts": 0,
                    "consumed_at": None,
                    "requester_ip": requester,
                },
            )
            audit.record(
                session, Event.CODE_REQUESTED, phone=phone, client_ip=client_ip, detail=test_mark(phone, s)
            )
            if sms_message_id is not None:
                ledger.record_queued(session, message_id=sms_message_id, phone=phone, now=now)
            # Last: the budgets' rows are shared by every send, so their row locks are held only for the commit.
            _spend_sms_budget(session, country, now, s)
    return code


def withdraw_code(
    session: Session,
    *,
    phone: str,
    code: str,
    reason: str,
    client_ip: str | None = None,
    settings: Settings | None = None,
    sms_message_id: str | None = None,
) -> None:
    """A code whose SMS never left: delete it, so it spends neither the cooldown, the hourly limits nor the
    SMS budgets, and audit the failure (and mark its ledger row failed). Only within
    refusal_cache.withdraw_window of its issue: later, the code stands (processes may have cached refusals
    resting on it). The phone's previous code, if still live, is then the latest again: a send that failed
    replaced nothing."""
    s = settings or get_settings()
    with transaction(session, f"phone:{phone}", f"ip:{requester_key(client_ip, s.ipv6_prefix_length)}"):
        row = session.exec(
            select(LoginCode).where(
                LoginCode.phone == phone,
                LoginCode.code_hmac == security.code_hmac(code_hmac_key(session, s), phone, code),
                col(LoginCode.consumed_at).is_(None),
            )
        ).first()
        now = utcnow()
        if row is not None and not refusal_cache.withdrawable(row.created_at, now, s):
            # Settled: other processes may rely on it (refusal_cache); the code stands, its cooldown too.
            log.warning(
                "SMS to %s failed %s after its code; too late to withdraw", mask_phone(phone), now - row.created_at
            )
            row = None
        if row is not None:
            session.delete(row)
            refusal_cache.forget_sends(phone)  # belt and braces: an unsettled row's refusals are never kept
            country = sms_country(phone, number_types=s.sms_number_types, allowed_regions=s.allowed_regions)
            counters.add(session, SMS_TOTAL, SMS_TOTAL_KEY, now=row.created_at, by=-1)
            counters.add(session, SMS_COUNTRY, country, now=row.created_at, by=-1)
        audit.record(session, Event.SMS_FAILED, phone=phone, client_ip=client_ip, detail=reason)
        if sms_message_id is not None:
            ledger.record_failed(session, message_id=sms_message_id, error=reason, now=now)


def sms_text(code: str, s: Settings) -> str:
    """The SMS: the message, then the WebOTP line (https://wicg.github.io/web-otp/) that lets the browser on the
    app's host offer the code with one tap."""
    return f"{translate('sms.login_code', DEFAULT_LANGUAGE, code=code)}\n\n@{s.sms_app_host} #{code}"


async def refuse_from_memory(
    check: Callable[[], None], event: Event, *, phone: str, client_ip: str | None
) -> None:
    """Answer a refusal refusal_cache holds on the event loop, before any trip to a worker thread: a flood of
    them then costs what any rejected request costs. Audited as the database path audits it (sampled, `event`
    with the limit as detail); a miss goes on to the database path, which checks the cache again."""
    try:
        check()
    except RateLimited as refused:
        await audit.record_refusal_soon(event, phone=phone, client_ip=client_ip, detail=refused.reason)
        raise


async def send_login_code(
    *, phone: str, region: str | None, client_ip: str | None, settings: Settings | None = None
) -> IssuedCode:
    """The whole send-code flow: normalise, issue (rate-limited) with its ledger row, send through the providers
    (failover, services/sms/delivery.py; the log sender simulates a gateway's SMS_DELAY_*), record the
    provider's answer.

    A test number (TEST_PHONE_NUMBERS) gets its fixed code and no SMS, under the same limits.
    Waiting for the provider is asynchronous and the database work runs in a worker thread, so hundreds of
    concurrent requests neither block the event loop nor hold threads while they wait. When no provider
    took the SMS within SMS_TIMEOUT_SECONDS the answer is `sms_failed`, and the code is withdrawn.
    """
    s = settings or get_settings()
    e164 = normalize_phone(phone, region, default_region=s.default_region)
    log_phone(mask_phone(e164))
    await refuse_from_memory(
        lambda: refusal_cache.check_send(e164, utcnow()), Event.CODE_REFUSED, phone=e164, client_ip=client_ip
    )
    # A test number's code is known: no SMS goes out, and the ledger has no row for it.
    message_id = secrets.token_hex(16) if test_mark(e164, s) is None else None
    code = await run_with_session(
        issue_code, phone=e164, client_ip=client_ip, settings=s, sms_message_id=message_id
    )
    accepted: Accepted | None = None
    if message_id is not None:
        try:
            accepted = await delivery.deliver(e164, sms_text(code, s), s)
        except delivery.AllProvidersFailed as failure:
            reason = failure.reason[:AUDIT_DETAIL_MAX_LENGTH]
            log.error("SMS to %s failed (%s); the code was withdrawn", mask_phone(e164), reason)
            await run_with_session(
                withdraw_code,
                phone=e164,
                code=code,
                reason=reason,
                client_ip=client_ip,
                settings=s,
                sms_message_id=message_id,
            )
            raise SmsFailed() from None
    # Its own transaction, committed before the answer, shared with concurrent sends' rows (group commit), with
    # the provider's answer in the ledger. A crash after the SMS and before that commit loses the row (the ledger
    # row stays `queued`), as it would with a transaction per row; it never records an SMS that did not go out.
    await audit.record_grouped(
        Event.CODE_SENT,
        companion=ledger.accepted_update(message_id, accepted, utcnow()) if message_id and accepted else None,
        phone=e164,
        client_ip=client_ip,
        detail=test_mark(e164, s),
    )
    if accepted is not None:
        polling.follow(accepted, s)
        if accepted.cost is not None and s.sms_max_spend_per_day is not None:
            await run_with_session(ledger.alert_on_reported_cost, accepted=accepted, settings=s)
    log.info("login code sent to %s", mask_phone(e164))
    return IssuedCode(
        phone=e164,
        expires_in=s.code_ttl_seconds,
        resend_in=s.code_resend_cooldown_seconds,
        code_length=s.code_length,
        debug_code=code if s.demo_mode else None,
    )


@contextlib.contextmanager
def verify_checks(session: Session, *, phone: str, client_ip: str | None) -> Iterator[None]:
    """A read-only transaction for the checks made before a code is compared (check_verify_allowed): a
    refusal raised in it is audited, sampled (VERIFY_REFUSED), and goes on to the caller."""
    refusals = audit.refusals_recorded(
        session,
        RateLimited,
        Event.VERIFY_REFUSED,
        detail=lambda e: e.reason,
        sampled=True,
        phone=phone,
        client_ip=client_ip,
    )
    with refusals, transaction(session):
        yield


# Built once, as Core statements over the tables' columns (like the profile read): they run on every
# verification. The guard and the requester's failed verifications are one statement, one row always (the
# guard's columns are NULL when the phone has none for this device).
_guards = cast("sa.Table", sa.inspect(SignInGuard).local_table)
_codes = cast("sa.Table", sa.inspect(LoginCode).local_table)
_one_row = sa.select(sa.literal_column("1").label("one")).subquery("one")
_shared = _guards.alias("shared_guard")  # the guard all the phone's devices share (read, not used, for strangers)
_VERIFY_STATE = sa.select(
    _guards.c.failures,
    _guards.c.locked_until,
    _guards.c.updated_at,
    _shared.c.locked_until.label("shared_locked_until"),
    _shared.c.updated_at.label("shared_updated_at"),
    counters.window_count(VERIFY_FAILURES).label("verify_failures"),
).select_from(
    _one_row.outerjoin(
        _guards, sa.and_(_guards.c.phone == sa.bindparam("phone"), _guards.c.device == sa.bindparam("device"))
    ).outerjoin(_shared, sa.and_(_shared.c.phone == sa.bindparam("phone"), _shared.c.device == ALL_DEVICES))
)
_LATEST_CODE = (
    sa.select(_codes.c.id, _codes.c.code_hmac, _codes.c.expires_at, _codes.c.attempts, _codes.c.consumed_at)
    .where(_codes.c.phone == sa.bindparam("phone"))
    .order_by(_codes.c.created_at.desc(), _codes.c.id.desc())
    .limit(1)
)
_CONSUME = (
    sa.update(_codes)
    .where(_codes.c.id == sa.bindparam("code_id"), _codes.c.consumed_at.is_(None))
    .values(consumed_at=sa.bindparam("now"))
)
_COUNT_ATTEMPT = (
    sa.update(_codes).where(_codes.c.id == sa.bindparam("code_id")).values(attempts=_codes.c.attempts + 1)
)
_CLEAR_GUARD = (
    sa.update(_guards)
    .where(_guards.c.phone == sa.bindparam("guard_phone"), _guards.c.device == sa.bindparam("guard_device"))
    .values(failures=0.0, locked_until=None, updated_at=sa.bindparam("now"))
)


def _allowed_or_refused(
    session: Session, phone: str, device: str, requester: str | None, now: datetime, s: Settings
) -> sa.Row[tuple[float | None, datetime | None, datetime | None, datetime | None, datetime | None, int | None]]:
    """check_verify_allowed's rules on one read of the state; returns that state (the guards' columns)."""
    state = session.execute(
        _VERIFY_STATE,
        {"phone": phone, "device": device, "counter_key": requester or "", "window": counters.window_start(now)},
    ).one()
    locks = {device: state.locked_until, ALL_DEVICES: state.shared_locked_until}
    for key in guard_keys(device):
        locked_until = locks[key]
        if locked_until is not None and locked_until > now:
            refusal_cache.remember_lock(phone, key, locked_until, now)
            raise RateLimited(retry_after=_seconds_until(locked_until, now), reason="phone_locked")
    if requester is not None:  # device holders too: a device token is no licence to guess from everywhere
        limit = counters.Limit(VERIFY_FAILURES, requester, s.verify_max_per_ip_per_hour, "verify_ip_limit")
        counters.refuse_if_full(limit, state.verify_failures, now)
    return state


def check_verify_allowed(
    session: Session, *, phone: str, device: str, client_ip: str | None, settings: Settings | None = None
) -> None:
    """Refuse a verification a limit forbids (`rate_limited`) before anything is evaluated or written: a
    locked phone (for this device or all devices, or for strangers), or a requester that has used up its failed
    verifications for the hour. `device` is a guard key (devices.recognised)."""
    s = settings or get_settings()
    now = utcnow()
    refusal_cache.check_lock(phone, guard_keys(device), now)  # a lock known to hold: answered without a statement
    _allowed_or_refused(session, phone, device, requester_key(client_ip, s.ipv6_prefix_length), now, s)


def consume_code(
    session: Session,
    *,
    phone: str,
    code: str,
    device: str = STRANGERS,
    client_ip: str | None = None,
    settings: Settings | None = None,
) -> ServiceError | None:
    """Check `code` against the phone's latest code inside the caller's write transaction.

    `device` is the guard key of a live device token for this phone (devices.recognised; STRANGERS for none):
    its failures go to a bucket of its own and the one all the phone's devices share, so strangers' failures
    never lock the owner out on a device used before.
    Returns None when it matched (the code is now consumed), otherwise the error to report; the failure
    is already recorded (code attempts, the guard's failures, maybe a lock, the audit trail) and the caller
    must commit it before raising: attempt counters and locks must stick.
    """
    failure = _check_code(session, phone, code, device, settings or get_settings(), client_ip)
    if failure is not None:
        audit.record(session, Event.WRONG_CODE, phone=phone, client_ip=client_ip, detail=failure.code)
    return failure


def _check_code(
    session: Session, phone: str, code: str, device: str, s: Settings, client_ip: str | None
) -> ServiceError | None:
    now = utcnow()
    requester = requester_key(client_ip, s.ipv6_prefix_length)
    try:
        state = _allowed_or_refused(session, phone, device, requester, now, s)  # again, under the locks
    except RateLimited as refused:
        return refused
    latest = session.execute(_LATEST_CODE, {"phone": phone}).first()
    # The code a guess counts against: the latest one, while it is unused and alive.
    usable = latest if latest is not None and latest.consumed_at is None and latest.expires_at > now else None
    # Every verification but a success counts against the requester (the transaction holds the requester's
    # lock, so counting only the failures is counting each try and taking a success back).
    if usable is None:
        # Nothing to guess: refused without counting against the phone, so nobody can keep its owner out
        # without an SMS being sent. (It counts against the requester.)
        if requester is not None:
            counters.add(session, VERIFY_FAILURES, requester, now=now)
        return InvalidCode(attempts_left=0)

    burned = usable.attempts >= s.code_max_attempts
    matches = not burned and security.codes_match(code_hmac_key(session, s), phone, code.strip(), usable.code_hmac)
    if matches and rowcount(session.execute(_CONSUME, {"code_id": usable.id, "now": now})) == 1:
        # The owner's device: its own budget starts afresh (a device without a guard has a fresh one).
        if device != STRANGERS and state.updated_at is not None:
            session.execute(_CLEAR_GUARD, {"guard_phone": phone, "guard_device": device, "now": now})
        return None

    if requester is not None:
        counters.add(session, VERIFY_FAILURES, requester, now=now)
    # A failure: the guards' buckets (rows of their own, created on the first failure) fill.
    known = {device: state.updated_at is not None, ALL_DEVICES: state.shared_updated_at is not None}
    guards = [_fill(session, phone, key, known[key], now, s) for key in guard_keys(device)]
    level = max(guard.failures for guard in guards)
    attempts = usable.attempts
    if not burned:
        session.execute(_COUNT_ATTEMPT, {"code_id": usable.id})
        attempts += 1
        burned = attempts >= s.code_max_attempts
        if burned:
            audit.record(session, Event.CODE_BURNED, phone=phone, client_ip=client_ip)
    full = [guard for guard in guards if guard.failures + 1 > s.phone_max_failures]
    for guard in full:  # the bucket holds no further guess: locked until it does
        guard.locked_until = now + timedelta(seconds=_lock_seconds(guard.failures, s))
    if full:
        wait = _lock_seconds(level, s)
        log.warning("phone %s locked for %d s after failed codes", mask_phone(phone), wait)
        audit.record(
            session, Event.PHONE_LOCKED, phone=phone, client_ip=client_ip, detail=_lock_detail(full[-1].device)
        )
        return RateLimited(retry_after=wait, reason="phone_locked")
    if burned:
        return TooManyAttempts()
    code_left = s.code_max_attempts - attempts
    return InvalidCode(attempts_left=min(code_left, math.floor(s.phone_max_failures - level)))


def _lock_detail(key: str) -> str | None:
    """The audit detail of a lock: whose bucket filled (None: strangers')."""
    return {STRANGERS: None, ALL_DEVICES: "all_devices"}.get(key, "device")


def _fill(session: Session, phone: str, key: str, known: bool, now: datetime, s: Settings) -> SignInGuard:
    """One more failure in the bucket of (phone, key); `known`: its row exists (read by _allowed_or_refused)."""
    guard = session.get(SignInGuard, (phone, key), populate_existing=True) if known else None
    if guard is None:
        guard = SignInGuard(phone=phone, device=key, updated_at=now)
        session.add(guard)
    guard.failures, guard.updated_at = _failures_now(guard, now, s) + 1, now
    return guard


def _drain_per_second(s: Settings) -> float:
    return (s.phone_max_failures_per_30_days - s.phone_max_failures) / (FAILURE_WINDOW_DAYS * 86400)


def guard_drain_time(s: Settings) -> timedelta:
    """How long a full guard (PHONE_MAX_FAILURES) takes to drain empty: one untouched for longer holds nothing."""
    return timedelta(seconds=math.ceil(s.phone_max_failures / _drain_per_second(s)))


def _failures_now(guard: SignInGuard, now: datetime, s: Settings) -> float:
    elapsed = max(0.0, (now - guard.updated_at).total_seconds())
    return max(0.0, guard.failures - elapsed * _drain_per_second(s))


def _lock_seconds(level: float, s: Settings) -> int:
    """Until the bucket has room for one more guess; at least PHONE_LOCK_SECONDS, never over a day (the
    settings keep the refill of one guess within a day)."""
    refill = math.ceil((level + 1 - s.phone_max_failures) / _drain_per_second(s))
    return min(LOCK_MAX_SECONDS, max(s.phone_lock_seconds, refill))

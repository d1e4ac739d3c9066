"""Login codes: storage, sending limits, attempt limits, locks — on real databases."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import datetime
from typing import ClassVar

import pytest
from sqlmodel import Session, func, select

from referral_app.core.clock import utcnow
from referral_app.core.config import Settings
from referral_app.core.db import transaction
from referral_app.models import AuditEvent, LoginCode, RateCounter, ServerSecret, SignInGuard
from referral_app.services import auth, login_codes, security, server_keys
from referral_app.services.audit import Event
from referral_app.services.devices import ALL_DEVICES
from referral_app.services.errors import InvalidCode, InvalidPhone, RateLimited, TooManyAttempts
from referral_app.services.sms import LogSmsSender, load_sender
from tests.helpers import PRODUCTION_SECRET_KEY, Stopwatch, configure, shift_back

PHONE = "+79123456789"
IP = "198.51.100.1"
# With the defaults the bucket refills one guess every 30 days / (100 - 10): the first lock lasts that long.
FIRST_LOCK = 8 * 3600


def issue(session: Session, phone: str = PHONE, ip: str | None = IP) -> str:
    return login_codes.issue_code(session, phone=phone, client_ip=ip)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10_000:04d}"


def test_only_an_hmac_of_the_code_is_stored(session: Session) -> None:
    code = issue(session)
    assert len(code) == 4 and code.isdigit()
    row = session.exec(select(LoginCode)).one()
    assert len(row.code_hmac) == 64 and row.code_hmac != code
    secret = session.exec(select(ServerSecret)).one().value
    assert row.code_hmac == security.code_hmac(secret, PHONE, code)
    assert row.requester_ip == IP
    assert (row.expires_at - row.created_at).total_seconds() == 300


def test_configured_secret_is_used_and_none_is_stored(session: Session, settings: Settings) -> None:
    configure(settings, secret_key=PRODUCTION_SECRET_KEY)
    code = issue(session)
    row = session.exec(select(LoginCode)).one()
    assert row.code_hmac == security.code_hmac(PRODUCTION_SECRET_KEY, PHONE, code)
    assert session.exec(select(ServerSecret)).first() is None


def test_generated_secret_persists_across_processes(session: Session) -> None:
    issue(session)
    first = session.exec(select(ServerSecret)).one().value

    server_keys.clear_cache()  # a new process would start with an empty cache
    shift_back(session, LoginCode, 61, "created_at")
    issue(session)
    assert session.exec(select(ServerSecret)).one().value == first


def test_cooldown_between_codes(session: Session) -> None:
    watch = Stopwatch()
    issue(session)
    with pytest.raises(RateLimited) as caught:
        issue(session)
    assert 60 - watch.seconds() <= caught.value.retry_after <= 60
    assert caught.value.headers() == {"Retry-After": str(caught.value.retry_after)}
    shift_back(session, LoginCode, 61, "created_at")
    issue(session)


def test_at_most_five_codes_per_phone_per_hour(session: Session) -> None:
    watch = Stopwatch()
    for _ in range(5):
        issue(session)
        shift_back(session, LoginCode, 61, "created_at")
    with pytest.raises(RateLimited) as caught:
        issue(session)
    # The oldest of the five is 5*61 s old, so the window frees in 3600 - 305 s.
    assert 3295 - watch.seconds() <= caught.value.retry_after <= 3296
    shift_back(session, LoginCode, 3600, "created_at")
    issue(session)


def test_at_most_thirty_codes_per_ip_per_hour(session: Session) -> None:
    watch = Stopwatch()
    for n in range(30):
        issue(session, f"+7912000{n:04d}")
    with pytest.raises(RateLimited) as caught:
        issue(session, "+79120009999")
    assert 3600 - watch.seconds() <= caught.value.retry_after <= 3600
    issue(session, "+79120009999", ip="198.51.100.2")  # another client is not affected
    issue(session, "+79120009998", ip=None)


def test_new_code_replaces_the_previous_one(session: Session) -> None:
    first = issue(session)
    shift_back(session, LoginCode, 61, "created_at")
    second = issue(session)
    if first != second:
        with pytest.raises(InvalidCode):
            auth.login_with_code(session, phone=PHONE, code=first)
    assert auth.login_with_code(session, phone=PHONE, code=second).is_new_user


def test_code_is_single_use(session: Session) -> None:
    code = issue(session)
    auth.login_with_code(session, phone=PHONE, code=code)
    with pytest.raises(InvalidCode) as caught:
        auth.login_with_code(session, phone=PHONE, code=code)
    assert caught.value.params["attempts_left"] == 0


def test_expired_code_is_rejected_with_the_same_message(session: Session) -> None:
    code = issue(session)
    shift_back(session, LoginCode, 301, "created_at", "expires_at")
    with pytest.raises(InvalidCode) as expired:
        auth.login_with_code(session, phone=PHONE, code=code)
    with pytest.raises(InvalidCode) as never_requested:
        auth.login_with_code(session, phone="+79000000000", code="1234")
    assert expired.value.code == never_requested.value.code == "invalid_code"
    assert expired.value.message() == never_requested.value.message()


def test_wrong_code_counts_down_then_burns(session: Session) -> None:
    code = issue(session)
    for left in (4, 3, 2, 1):
        with pytest.raises(InvalidCode) as caught:
            auth.login_with_code(session, phone=PHONE, code=wrong(code))
        assert caught.value.params["attempts_left"] == left
        assert caught.value.extra() == {"attempts_left": left}
    with pytest.raises(TooManyAttempts):
        auth.login_with_code(session, phone=PHONE, code=wrong(code))
    # Burned: even the right code no longer works.
    with pytest.raises(TooManyAttempts):
        auth.login_with_code(session, phone=PHONE, code=code)


def test_ten_failures_lock_the_phone_across_codes(session: Session) -> None:
    failures = 0
    for _ in range(2):
        code = issue(session)
        shift_back(session, LoginCode, 61, "created_at")
        for _ in range(5):
            with pytest.raises((InvalidCode, TooManyAttempts, RateLimited)) as caught:
                auth.login_with_code(session, phone=PHONE, code=wrong(code))
            failures += 1
    assert failures == 10
    assert isinstance(caught.value, RateLimited)
    assert caught.value.retry_after == FIRST_LOCK
    # Locked: a new code is still sent (the owner may sign in on a device of their own), but even the
    # right code does not log in without one.
    code = issue(session)
    with pytest.raises(RateLimited):
        auth.login_with_code(session, phone=PHONE, code=code)
    guard = session.get(SignInGuard, (PHONE, ""))
    assert guard is not None and guard.locked_until is not None
    # After the lock the phone works again.
    shift_back(session, SignInGuard, FIRST_LOCK + 1, "locked_until", "updated_at")
    shift_back(session, LoginCode, 3600, "created_at", "expires_at")
    code = issue(session)
    assert auth.login_with_code(session, phone=PHONE, code=code).access_token


def test_success_resets_the_failures_of_the_device_only(session: Session) -> None:
    code = issue(session)
    device_token = auth.login_with_code(session, phone=PHONE, code=code).device_token
    shift_back(session, LoginCode, 61, "created_at")
    code = issue(session)
    for token in (None, device_token):  # 2 failures as a stranger, 2 on the device
        for _ in range(2):
            with pytest.raises(InvalidCode):
                auth.login_with_code(session, phone=PHONE, code=wrong(code), device_token=token)
    again = auth.login_with_code(session, phone=PHONE, code=code, device_token=device_token)
    assert again.device_token == device_token  # a valid device token is kept
    session.rollback()
    guards = {g.device: g.failures for g in session.exec(select(SignInGuard)).all()}
    strangers, all_devices = guards.pop(""), guards.pop(ALL_DEVICES)
    assert 1.99 < strangers <= 2  # draining, not reset: a success says nothing about the strangers
    assert 1.99 < all_devices <= 2  # nor about the other devices of the phone
    assert list(guards.values()) == [0.0]  # the device's own bucket starts afresh


ROTATED_KEY = "tests-only-rotated-key-fedcba9876543210"


def test_rotating_the_key_ends_live_codes_only(session: Session, settings: Settings) -> None:
    configure(settings, demo_mode=False, secret_key=PRODUCTION_SECRET_KEY)
    device_token = auth.login_with_code(session, phone=PHONE, code=issue(session)).device_token
    shift_back(session, LoginCode, 61, "created_at")
    live_code = issue(session)

    rotated = configure(
        settings, demo_mode=False, secret_key=ROTATED_KEY, secret_key_fallbacks=[PRODUCTION_SECRET_KEY]
    )
    with pytest.raises(InvalidCode):  # the code's HMAC was made with the old key
        auth.login_with_code(session, phone=PHONE, code=live_code, device_token=device_token)
    guards = {g.device: g.failures for g in session.exec(select(SignInGuard)).all()}
    # The old device token still names the device: its bucket and the one of all devices, not the strangers'.
    assert guards.get("", 0) == 0 and guards[ALL_DEVICES] == 1 and sum(guards.values()) == 2
    shift_back(session, LoginCode, 61, "created_at")
    again = auth.login_with_code(session, phone=PHONE, code=issue(session), device_token=device_token)
    assert again.device_token != device_token  # the same device, signed again with the current key
    assert security.device_of([ROTATED_KEY], PHONE, again.device_token) == security.device_of(
        [PRODUCTION_SECRET_KEY], PHONE, device_token
    )

    configure(rotated, secret_key_fallbacks=[])  # the old key dropped: its device tokens are strangers'
    shift_back(session, LoginCode, 61, "created_at")
    with pytest.raises(InvalidCode):
        auth.login_with_code(session, phone=PHONE, code=wrong(issue(session)), device_token=device_token)
    session.rollback()
    assert session.get(SignInGuard, (PHONE, "")) is not None


def test_outside_demo_mode_no_key_is_generated(session: Session, settings: Settings) -> None:
    configure(settings, demo_mode=False, secret_key=None)
    with pytest.raises(server_keys.MissingSecretKey, match="SECRET_KEY is not set"):
        issue(session)
    session.rollback()
    assert session.exec(select(ServerSecret)).all() == []


def test_attempts_left_never_exceeds_what_the_phone_lock_allows(session: Session) -> None:
    code = issue(session)
    for _ in range(4):
        with pytest.raises(InvalidCode):
            auth.login_with_code(session, phone=PHONE, code=wrong(code))
    shift_back(session, LoginCode, 61, "created_at")
    code = issue(session)
    for _ in range(4):
        with pytest.raises(InvalidCode) as caught:
            auth.login_with_code(session, phone=PHONE, code=wrong(code))
    # 8 consecutive failures: the phone allows 2 more, though the new code alone would allow 1.
    assert caught.value.params["attempts_left"] == 1
    shift_back(session, LoginCode, 61, "created_at")
    issue(session)
    with pytest.raises(InvalidCode) as caught:
        auth.login_with_code(session, phone=PHONE, code="0000" if code != "0000" else "1111")
    assert caught.value.params["attempts_left"] <= 1


def test_brute_force_over_all_codes_never_logs_in(session: Session) -> None:
    """An attacker walks through all 9,999 codes but the real one (so the outcome never depends on luck):
    5 real tries on the code, 5 more on the burned code, then the locked phone refuses all the others.

    Each guess is checked exactly as a login checks it (`consume_code` in a write transaction, see
    auth.login_with_code), but all in one transaction: 9,999 logins committed one by one take 20–40 s per
    backend here. Logins of their own, a transaction each, are what the tests above and tests/api make."""
    real = issue(session)
    outcomes: Counter[str] = Counter()
    with transaction(session, f"phone:{PHONE}"):
        for guess in (f"{n:04d}" for n in range(10_000)):
            if guess == real:
                continue
            failure = login_codes.consume_code(session, phone=PHONE, code=guess)
            assert failure is not None, f"the guess {guess} logged in"
            outcomes[failure.code] += 1
    assert outcomes == {"invalid_code": 4, "too_many_attempts": 5, "rate_limited": 9999 - 9}
    wrong_codes = select(func.count()).select_from(AuditEvent).where(AuditEvent.event == Event.WRONG_CODE)
    assert session.exec(wrong_codes).one() == 9999  # every guess is in the audit trail
    # The phone is locked: even the real code, in a login of its own, is refused.
    with pytest.raises(RateLimited):
        auth.login_with_code(session, phone=PHONE, code=real)


def test_invalid_phone_is_rejected_before_anything_is_stored(session: Session) -> None:
    with pytest.raises(InvalidPhone):
        auth.login_with_code(session, phone="not a phone", code="1234")
    assert session.exec(select(SignInGuard)).first() is None


def test_verify_race_gives_exactly_one_token(engine, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    with Session(engine) as s:
        code = issue(s)

    def verify(_: int) -> str:
        with Session(engine, expire_on_commit=False) as s:
            try:
                return auth.login_with_code(s, phone=PHONE, code=code).access_token
            except (InvalidCode, RateLimited):  # replays count as failures, so the phone may lock
                return "rejected"

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(verify, range(20)))
    assert sum(r != "rejected" for r in results) == 1


def test_send_limits_hold_under_a_parallel_burst(engine, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    def send(_: int) -> str:
        with Session(engine) as s:
            try:
                issue(s)
                return "sent"
            except RateLimited:
                return "limited"

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(send, range(10)))
    assert results.count("sent") == 1


def test_sms_budget_holds_under_a_parallel_burst_of_distinct_phones(engine, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    """Parallel sends for distinct phones from distinct addresses: exactly the budget goes out, the rest are
    refused and leave nothing behind, not even a count."""
    from concurrent.futures import ThreadPoolExecutor

    configure(settings, sms_max_per_hour=5)

    def send(n: int) -> str:
        with Session(engine) as s:
            try:
                issue(s, phone=f"+7912{n:07d}", ip=f"10.0.0.{n}")
                return "sent"
            except RateLimited as refused:
                return refused.reason

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(send, range(12)))
    assert sorted(results) == ["sent"] * 5 + ["sms_budget"] * 7
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(LoginCode)).one() == 5
        requested = s.exec(select(func.count()).where(AuditEvent.event == "code_requested")).one()
        assert requested == 5
        assert s.exec(select(RateCounter.count).where(RateCounter.name == "sms")).one() == 5
        assert s.exec(select(RateCounter.count).where(RateCounter.name == "sms_country")).one() == 5


class RecordingSender(LogSmsSender):
    """The default sender (its log line), recording when each delivery starts and ends. No delivery ends
    before `expected` have started, so they must overlap: delivered one after another, the first would wait
    for the others for ever (until the test's timeout, a guard against a hang far beyond a slow machine)."""

    expected = 1

    def __init__(self) -> None:
        self.events: list[tuple[str, str, datetime]] = []  # (start or end, phone, when)
        self.all_started = asyncio.Event()

    async def send(self, phone: str, text: str) -> None:
        self.events.append(("start", phone, utcnow()))
        if sum(kind == "start" for kind, _, _ in self.events) >= self.expected:
            self.all_started.set()
        await self.all_started.wait()
        await super().send(phone, text)
        self.events.append(("end", phone, utcnow()))


async def test_default_delivery_delay_is_real_and_concurrent(settings: Settings, session: Session, caplog) -> None:  # type: ignore[no-untyped-def]
    """200 concurrent send-code calls wait for the simulated SMS gateway together, each for real: proved by
    the recorded order of the deliveries and by when each was sent, not by a stopwatch."""
    current = configure(
        settings,
        sms_delay_min=1.0,
        sms_delay_max=2.0,
        demo_mode=False,
        secret_key=PRODUCTION_SECRET_KEY,
        sms_sender=f"{__name__}:RecordingSender",
    )
    sender = load_sender(current.sms_sender)
    sender.expected = 200
    caplog.set_level(logging.INFO)
    calls = asyncio.gather(
        *(
            login_codes.send_login_code(phone=f"+7912{n:07d}", region=None, client_ip=f"10.0.{n // 250}.{n % 250}")
            for n in range(200)
        )
    )
    try:
        results = await asyncio.wait_for(calls, timeout=120)  # about 2 s here, when they overlap
    except TimeoutError:
        started = sum(kind == "start" for kind, _, _ in sender.events)
        pytest.fail(f"the deliveries did not overlap: {started} of 200 started, none could finish")
    assert {r.debug_code for r in results} == {None}
    # Concurrent: all 200 deliveries had started before the first one finished.
    assert [kind for kind, _, _ in sender.events] == ["start"] * 200 + ["end"] * 200
    # Real: each SMS went out (the log sender's line, after its simulated gateway) at least SMS_DELAY_MIN after its
    # code was issued (10 ms for clock rounding).
    sent = {phone: when for kind, phone, when in sender.events if kind == "end"}
    issued = dict(session.exec(select(LoginCode.phone, LoginCode.created_at)).all())
    assert sent.keys() == issued.keys() and len(sent) == 200
    waited = sorted((sent[phone] - issued[phone]).total_seconds() for phone in sent)
    assert waited[0] >= 1.0 - 0.01, waited[:5]
    sms_lines = [r.getMessage() for r in caplog.records if r.name == "referral_app.sms"]
    assert len(sms_lines) == 200
    # Codes appear only on the simulated SMS lines, never elsewhere in the log.
    other = " ".join(r.getMessage() for r in caplog.records if r.name != "referral_app.sms")
    assert "+7912" not in other  # phones are masked outside the SMS line
    print(f"200 concurrent send-code calls: each SMS sent {waited[0]:.2f}–{waited[-1]:.2f} s after its code")


def test_secret_is_generated_on_start_and_kept(session: Session, settings: Settings) -> None:
    from referral_app.services import server_keys

    server_keys.ensure_code_hmac_key(session, settings=settings)
    stored = session.exec(select(ServerSecret)).one().value
    assert len(stored) >= 40
    server_keys.clear_cache()
    server_keys.ensure_code_hmac_key(session, settings=settings)  # a second process, or a restart
    assert session.exec(select(ServerSecret)).one().value == stored


class KeptSender(LogSmsSender):
    """The default sender, keeping the texts it sent."""

    texts: ClassVar[list[tuple[str, str]]] = []

    async def send(self, phone: str, text: str) -> None:
        self.texts.append((phone, text))
        await super().send(phone, text)


@pytest.mark.parametrize(
    ("configured", "host"),
    [
        ({}, "localhost"),
        ({"reflex_deploy_url": "https://refer.example.com:8443/app"}, "refer.example.com"),
        ({"reflex_deploy_url": "https://refer.example.com", "web_otp_host": "m.example.org"}, "m.example.org"),
    ],
)
async def test_the_sms_ends_with_the_web_otp_line(settings: Settings, configured: dict, host: str) -> None:  # type: ignore[type-arg]
    """WebOTP: the last line is `@<host> #<code>`, the host from WEB_OTP_HOST or else the app's own address."""
    current = configure(
        settings, sms_delay_min=0, sms_delay_max=0, sms_sender=f"{__name__}:KeptSender", **configured
    )
    KeptSender.texts.clear()
    issued = await login_codes.send_login_code(phone=PHONE, region=None, client_ip=IP, settings=current)
    [(phone, text)] = KeptSender.texts
    assert phone == PHONE
    message, otp_line = text.rsplit("\n\n", 1)
    assert issued.debug_code is not None and issued.debug_code in message
    assert otp_line == f"@{host} #{issued.debug_code}"


def test_a_generated_secret_is_stored_by_the_read_that_first_needs_it(
    session: Session, settings: Settings
) -> None:
    # Started without ensure_code_hmac_key (a PostgreSQL read runs in autocommit: no savepoint to take)
    with transaction(session):
        key = server_keys.code_hmac_key(session, settings)
    server_keys.clear_cache()
    with transaction(session):
        assert server_keys.code_hmac_key(session, settings) == key
    assert session.exec(select(ServerSecret)).one().value == key

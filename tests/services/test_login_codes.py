"""Login codes: storage, sending limits, attempt limits, locks — on real databases."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from sqlmodel import Session, select

from referral_app.core.config import Settings
from referral_app.models import LoginCode, ServerSecret, SignInGuard
from referral_app.services import auth, login_codes, security
from referral_app.services.errors import InvalidCode, InvalidPhone, RateLimited, TooManyAttempts
from tests.helpers import configure, shift_back

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
    configure(settings, secret_key="configured-secret")
    code = issue(session)
    row = session.exec(select(LoginCode)).one()
    assert row.code_hmac == security.code_hmac("configured-secret", PHONE, code)
    assert session.exec(select(ServerSecret)).first() is None


def test_generated_secret_persists_across_processes(session: Session) -> None:
    issue(session)
    first = session.exec(select(ServerSecret)).one().value
    from referral_app.services import server_keys

    server_keys.clear_cache()  # a new process would start with an empty cache
    shift_back(session, LoginCode, 61, "created_at")
    issue(session)
    assert session.exec(select(ServerSecret)).one().value == first


def test_cooldown_between_codes(session: Session) -> None:
    issue(session)
    with pytest.raises(RateLimited) as caught:
        issue(session)
    assert 55 <= caught.value.retry_after <= 60
    assert caught.value.headers() == {"Retry-After": str(caught.value.retry_after)}
    shift_back(session, LoginCode, 61, "created_at")
    issue(session)


def test_at_most_five_codes_per_phone_per_hour(session: Session) -> None:
    for _ in range(5):
        issue(session)
        shift_back(session, LoginCode, 61, "created_at")
    with pytest.raises(RateLimited) as caught:
        issue(session)
    # The oldest of the five is 5*61 s old, so the window frees in 3600 - 305 s.
    assert 3290 <= caught.value.retry_after <= 3296
    shift_back(session, LoginCode, 3600, "created_at")
    issue(session)


def test_at_most_thirty_codes_per_ip_per_hour(session: Session) -> None:
    for n in range(30):
        issue(session, f"+7912000{n:04d}")
    with pytest.raises(RateLimited) as caught:
        issue(session, "+79120009999")
    assert 3590 <= caught.value.retry_after <= 3600
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
    strangers = guards.pop("")
    assert 1.99 < strangers <= 2  # draining, not reset: a success says nothing about the strangers
    assert list(guards.values()) == [0.0]


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
    """An attacker walks through every code, asking for new codes whenever allowed."""
    issue(session)
    outcomes: dict[str, int] = {}
    for guess in range(10_000):
        try:
            auth.login_with_code(session, phone=PHONE, code=f"{guess:04d}")
            pytest.fail("a brute-force guess logged in")  # pragma: no cover
        except (InvalidCode, TooManyAttempts, RateLimited) as err:
            outcomes[err.code] = outcomes.get(err.code, 0) + 1
        if guess == 100:
            break
    # 5 real tries on the code, 5 more on the burned code, then the phone is locked.
    assert outcomes["invalid_code"] == 4
    assert outcomes["too_many_attempts"] == 5
    assert outcomes["rate_limited"] == 101 - 9


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


async def test_default_delivery_delay_is_real_and_concurrent(settings: Settings, caplog) -> None:  # type: ignore[no-untyped-def]
    configure(settings, sms_delay_min=1.0, sms_delay_max=2.0, demo_mode=False)
    caplog.set_level(logging.INFO)
    started = time.perf_counter()
    results = await asyncio.gather(
        *(
            login_codes.send_login_code(phone=f"+7912{n:07d}", region=None, client_ip=f"10.0.{n // 250}.{n % 250}")
            for n in range(200)
        )
    )
    elapsed = time.perf_counter() - started
    assert 1.0 <= elapsed < 4.0, elapsed
    assert {r.debug_code for r in results} == {None}
    sms_lines = [r.getMessage() for r in caplog.records if r.name == "referral_app.sms"]
    assert len(sms_lines) == 200
    # Codes appear only on the simulated SMS lines, never elsewhere in the log.
    other = " ".join(r.getMessage() for r in caplog.records if r.name != "referral_app.sms")
    assert "+7912" not in other  # phones are masked outside the SMS line
    print(f"200 concurrent send-code calls took {elapsed:.2f} s")


def test_secret_is_generated_on_start_and_kept(session: Session, settings: Settings) -> None:
    from referral_app.services import server_keys

    server_keys.ensure_code_hmac_key(session, settings=settings)
    stored = session.exec(select(ServerSecret)).one().value
    assert len(stored) >= 40
    server_keys.clear_cache()
    server_keys.ensure_code_hmac_key(session, settings=settings)  # a second process, or a restart
    assert session.exec(select(ServerSecret)).one().value == stored

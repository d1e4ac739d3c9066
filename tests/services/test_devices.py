"""Devices as rows: a device token counts only while its row is live, and device holders' failures are bounded
together (services/devices.py, services/login_codes.py) — on real databases, with the test clock."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import Session, func, select

from referral_app.core.config import Settings
from referral_app.models import AuditEvent, Device, LoginCode, SignInGuard, User
from referral_app.services import account, auth, login_codes, sessions
from referral_app.services.devices import ALL_DEVICES, STRANGERS, guard_key
from referral_app.services.errors import InvalidCode, RateLimited, TooManyAttempts
from referral_app.services.security import device_of
from referral_app.services.server_keys import loaded_verification_keys
from tests.helpers import FakeClock, configure

PHONE = "+79123456789"
IP = "198.51.100.1"
DAY = 24 * 3600


@pytest.fixture(autouse=True)
def many_codes(settings: Settings) -> Settings:
    """These tests request a code for every guess: the phone's and the address's hourly limits are not theirs."""
    return configure(settings, code_max_per_phone_per_hour=1000, code_max_per_ip_per_hour=1000)


def issue(session: Session, ip: str = IP) -> str:
    return login_codes.issue_code(session, phone=PHONE, client_ip=ip)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10_000:04d}"


def sign_in(session: Session, clock: FakeClock, device_token: str | None = None) -> auth.LoginResult:
    clock.advance(61)  # past the resend cooldown
    return auth.login_with_code(session, phone=PHONE, code=issue(session), device_token=device_token, client_ip=IP)


def guard_failures(session: Session) -> dict[str, float]:
    session.rollback()
    return {g.device: g.failures for g in session.exec(select(SignInGuard).where(SignInGuard.phone == PHONE))}


def fails_as(session: Session, clock: FakeClock, device_token: str | None) -> str:
    """One wrong guess at a fresh code; which guard it filled (its key), by the guards before and after."""
    clock.advance(61)
    code = issue(session)
    before = guard_failures(session)
    with pytest.raises(InvalidCode):
        auth.login_with_code(session, phone=PHONE, code=wrong(code), device_token=device_token, client_ip=IP)
    after = guard_failures(session)
    filled = {key for key, value in after.items() if value > before.get(key, 0)}
    if filled == {STRANGERS}:
        return STRANGERS
    own = filled - {ALL_DEVICES}
    assert ALL_DEVICES in filled and len(own) == 1, after  # a device holder fills its own and the shared one
    return own.pop()


def key_of(result: auth.LoginResult) -> str:
    return guard_key(device_of(loaded_verification_keys(configure_current()), PHONE, result.device_token))


def configure_current() -> Settings:
    from referral_app.core.config import get_settings

    return get_settings()


def test_a_device_token_is_kept_while_its_row_lives_and_names_one_row(session: Session, clock: FakeClock) -> None:
    first = sign_in(session, clock)
    again = sign_in(session, clock, first.device_token)
    assert again.device_token == first.device_token
    rows = session.exec(select(Device)).all()
    assert len(rows) == 1 and rows[0].revoked_at is None and rows[0].user_id == first.user_id
    assert first.device_token.split(".")[0].removeprefix("rfd_") not in rows[0].device_hash  # only a hash kept
    listed = sessions.list_sessions(session, token=again.access_token)
    assert {s.device_id for s in listed} == {rows[0].id}  # both sessions came from this device
    assert fails_as(session, clock, first.device_token) == key_of(first)


def test_a_device_unused_for_the_ttl_is_a_strangers_again(
    session: Session, clock: FakeClock, many_codes: Settings
) -> None:
    configure(many_codes, device_ttl_days=180)
    first = sign_in(session, clock)
    clock.advance(179 * DAY)
    assert fails_as(session, clock, first.device_token) == key_of(first)  # still live: 179 days unused
    kept = sign_in(session, clock, first.device_token)  # a sign-in moves its expiry on
    assert kept.device_token == first.device_token
    clock.advance(180 * DAY + 1)
    assert fails_as(session, clock, first.device_token) == STRANGERS
    fresh = sign_in(session, clock, first.device_token)
    assert fresh.device_token != first.device_token  # a new device row, a new token


@pytest.mark.parametrize("scope", [sessions.LogoutScope.ALL, sessions.LogoutScope.OTHERS])
def test_signing_out_everywhere_revokes_the_devices(
    session: Session, clock: FakeClock, scope: sessions.LogoutScope
) -> None:
    laptop = sign_in(session, clock)
    phone = sign_in(session, clock)  # no device token: another device
    sessions.logout(session, token=phone.access_token, scope=scope, client_ip=IP)
    assert fails_as(session, clock, laptop.device_token) == STRANGERS
    expected = STRANGERS if scope == sessions.LogoutScope.ALL else key_of(phone)  # "everywhere else" keeps mine
    assert fails_as(session, clock, phone.device_token) == expected
    revoked = session.exec(select(AuditEvent.detail).where(AuditEvent.event == "device_revoked")).all()
    assert len(revoked) == (2 if scope == sessions.LogoutScope.ALL else 1)
    assert all(detail and detail.startswith(f"logout_{scope}:") for detail in revoked)


def test_signing_out_one_session_keeps_the_device(session: Session, clock: FakeClock) -> None:
    first = sign_in(session, clock)
    sessions.logout(session, token=first.access_token, client_ip=IP)
    assert fails_as(session, clock, first.device_token) == key_of(first)


def test_deleting_the_account_revokes_its_devices(session: Session, clock: FakeClock) -> None:
    first = sign_in(session, clock)
    clock.advance(61)
    account.delete_account(session, token=first.access_token, code=issue(session), client_ip=IP)
    assert fails_as(session, clock, first.device_token) == STRANGERS
    newcomer = sign_in(session, clock, first.device_token)  # the number's next owner
    assert newcomer.is_new_user and newcomer.device_token != first.device_token


def test_a_new_account_on_the_number_revokes_every_earlier_device_of_it(
    session: Session, clock: FakeClock
) -> None:
    first = sign_in(session, clock)
    # An earlier owner's account left without deleting (say, removed by hand): its phone column freed.
    session.execute(sa.update(User).where(User.id == first.user_id).values(phone=f"~{first.user_id}"))
    session.commit()
    newcomer = sign_in(session, clock, first.device_token)
    assert newcomer.is_new_user
    old = session.exec(select(Device).where(Device.user_id == first.user_id)).one()
    assert old.revoked_at is not None
    assert session.exec(select(AuditEvent.detail).where(AuditEvent.event == "device_revoked")).one() == (
        f"new_account:{old.id}"
    )
    assert fails_as(session, clock, first.device_token) == STRANGERS


def test_at_most_the_limit_of_live_devices_per_phone_the_least_recently_used_go(
    session: Session, clock: FakeClock, many_codes: Settings
) -> None:
    configure(many_codes, devices_max_per_phone=3)
    tokens = [sign_in(session, clock) for _ in range(3)]
    sign_in(session, clock, tokens[0].device_token)  # the first is now the most recently used
    fourth = sign_in(session, clock)
    live = session.exec(select(func.count()).select_from(Device).where(Device.revoked_at.is_(None))).one()
    assert live == 3
    assert fails_as(session, clock, tokens[1].device_token) == STRANGERS  # the least recently used went
    for kept in (tokens[0], tokens[2], fourth):
        assert fails_as(session, clock, kept.device_token) == key_of(kept)


def test_device_holders_keep_the_per_client_verify_limit(
    session: Session, clock: FakeClock, many_codes: Settings
) -> None:
    configure(many_codes, verify_max_per_ip_per_hour=3)
    clock.now = clock.now.replace(minute=0, second=0, microsecond=0)  # the hourly window holds the whole test
    holder = sign_in(session, clock)
    for _ in range(3):
        fails_as(session, clock, holder.device_token)
    clock.advance(61)
    code = issue(session)
    with pytest.raises(RateLimited) as refused:
        auth.login_with_code(session, phone=PHONE, code=code, device_token=holder.device_token, client_ip=IP)
    assert refused.value.reason == "verify_ip_limit"


def test_all_devices_of_a_phone_share_one_more_budget(
    session: Session, clock: FakeClock, many_codes: Settings
) -> None:
    configure(many_codes, phone_max_failures=4, verify_max_per_ip_per_hour=1000)
    first, second = sign_in(session, clock), sign_in(session, clock)
    for holder in (first, second, first):  # three failures, each in its own device's bucket and the shared one
        fails_as(session, clock, holder.device_token)
    clock.advance(61)
    code = issue(session)
    with pytest.raises(RateLimited) as locked:  # the fourth fills the shared bucket: every device is locked
        auth.login_with_code(session, phone=PHONE, code=wrong(code), device_token=second.device_token)
    assert locked.value.reason == "phone_locked"
    for holder in (first, second):
        with pytest.raises(RateLimited):  # even the right code
            auth.login_with_code(session, phone=PHONE, code=code, device_token=holder.device_token)
    assert auth.login_with_code(session, phone=PHONE, code=code).access_token  # strangers' budget is their own
    detail = session.exec(select(AuditEvent.detail).where(AuditEvent.event == "phone_locked")).one()
    assert detail == "all_devices"


# The best attack on one chosen phone in 30 days: a stranger's guesses and DEVICES_MAX_PER_PHONE collected device
# tokens (every one the attacker could have got, from sign-ins while they could read the number's SMS), each
# guessing whenever any limit lets it, codes requested as often as the limits allow. A guess is evaluated exactly
# when it increments a code's `attempts`; each evaluated guess at a 4-digit code wins with probability at most
# 1/10,000, so P(takeover) <= evaluated / 10,000.
BUDGET_PROBABILITY = 0.02


@pytest.mark.slow
def test_simulated_best_attack_takes_over_with_at_most_two_percent(
    session: Session, clock: FakeClock, settings: Settings
) -> None:
    holders = [sign_in(session, clock).device_token for _ in range(settings.devices_max_per_phone)]
    session.execute(sa.delete(LoginCode))  # the sign-ins that gave the tokens are not the attack
    session.commit()
    # Only the per-phone rules stand between the attacker and the phone (a botnet passes every per-address one).
    s = configure(settings, verify_max_per_ip_per_hour=10**6, code_max_per_ip_per_hour=10**6)
    attackers: list[str | None] = [None, *holders]
    start = clock.now
    while (clock.now - start).total_seconds() < 30 * DAY:
        try:
            code = issue(session)
        except RateLimited as wait:  # the phone's cooldown or hourly limit: come back when it lets us
            clock.advance(wait.retry_after or 1)
            continue
        locked_for: list[int] = []
        for attacker in attackers:  # each guesses at this code until a limit stops it
            for _ in range(s.code_max_attempts):
                try:
                    auth.login_with_code(session, phone=PHONE, code=wrong(code), device_token=attacker)
                except InvalidCode:
                    continue
                except TooManyAttempts:
                    break
                except RateLimited as refused:
                    locked_for.append(refused.retry_after or 1)
                    break
        everyone_locked = len(locked_for) == len(attackers)
        clock.advance(max(s.code_resend_cooldown_seconds, min(locked_for)) if everyone_locked else 61)
    evaluated = session.exec(select(func.sum(LoginCode.attempts))).one() or 0
    print(f"evaluated guesses in 30 days: {evaluated}, P(takeover) <= {evaluated / 10_000:.2%}")
    assert evaluated <= 2 * s.phone_max_failures_per_30_days
    assert evaluated / 10_000 <= BUDGET_PROBABILITY
    assert evaluated >= 2 * s.phone_max_failures  # the attack did get its bursts: the bound is not vacuous

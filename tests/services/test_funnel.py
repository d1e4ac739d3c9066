"""The invite funnel: counts per code owner and day, an open once per browser per code per day, bots and unknown or
retired codes counting nothing, and the 7 / 30 days / all-time windows under the test clock."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from referral_app.core.db import session_scope, transaction
from referral_app.models import InviteFunnelDay, LoginCode
from referral_app.services import account, auth, funnel, login_codes, referrals, users
from referral_app.services.funnel import FunnelCounts
from tests.helpers import FakeClock, shift_back

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
ANNA, BORIS = "+79123456789", "+79001112233"


def new_user(session: Session, phone: str) -> tuple[int, str]:
    with transaction(session, write=True):
        user, _ = users.get_or_create_user(session, phone=phone)
    assert user.id is not None
    return user.id, user.invite_code


def counts(session: Session, user_id: int) -> FunnelCounts:
    return funnel.invite_stats(session, user_id=user_id).all_time


def test_an_open_counts_once_per_browser_per_code_per_day(session: Session, clock: FakeClock) -> None:
    anna, code = new_user(session, ANNA)
    _, other_code = new_user(session, BORIS)
    cookie = funnel.record_open(session, invite_code=code.lower(), user_agent=BROWSER, opened_cookie=None)
    assert cookie == f"{clock.now:%Y%m%d}-{code}"
    again = funnel.record_open(session, invite_code=code, user_agent=BROWSER, opened_cookie=cookie)
    assert again == cookie and counts(session, anna).opened == 1
    both = funnel.record_open(session, invite_code=other_code, user_agent=BROWSER, opened_cookie=cookie)
    assert both == f"{cookie}-{other_code}"
    funnel.record_open(session, invite_code=code, user_agent=BROWSER, opened_cookie=None)  # another browser
    assert counts(session, anna).opened == 2
    clock.advance(24 * 3600)  # the next day the same browser counts again
    assert funnel.record_open(session, invite_code=code, user_agent=BROWSER, opened_cookie=both).endswith(code)
    assert counts(session, anna).opened == 3
    assert len(session.exec(select(InviteFunnelDay)).all()) == 3  # a row per owner and day, not per visit


@pytest.mark.parametrize(
    "agent",
    [
        None,
        "",
        "TelegramBot (like TwitterBot)",
        "WhatsApp/2.23.20.0",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "curl/8.5.0",
        "python-httpx/0.28.1",
        "PostmanRuntime/7.39.0",
    ],
)
def test_bots_are_not_counted(session: Session, agent: str | None) -> None:
    anna, code = new_user(session, ANNA)
    cookie = funnel.record_open(session, invite_code=code, user_agent=agent, opened_cookie=None)
    assert cookie.endswith(code)  # told nothing: the same answer as for a person
    assert counts(session, anna).opened == 0
    assert funnel.is_bot(agent) and not funnel.is_bot(BROWSER)


def test_unknown_retired_and_junk_codes_count_nothing_and_answer_alike(session: Session) -> None:
    anna, _ = new_user(session, ANNA)
    _, boris_code = new_user(session, BORIS)
    boris = auth.login_with_code(session, phone=BORIS, code=fresh_code(session, BORIS))
    account.delete_account(session, token=boris.access_token, code=fresh_code(session, BORIS))
    for unknown in ("ZZZZZZ", boris_code):
        assert funnel.record_open(session, invite_code=unknown, user_agent=BROWSER, opened_cookie=None).endswith(
            f"-{unknown}"
        )
        funnel.record_signup(session, invite_code=unknown)
    for junk in ("", "\x00", "x" * 40, "ab$cd"):
        assert (
            funnel.record_open(session, invite_code=junk, user_agent=BROWSER, opened_cookie="garbage") == "garbage"
        )
        funnel.record_signup(session, invite_code=junk)
    assert session.exec(select(InviteFunnelDay)).all() == []
    assert counts(session, anna) == FunnelCounts(0, 0, 0)


def fresh_code(session: Session, phone: str) -> str:
    code = login_codes.issue_code(session, phone=phone, client_ip=None)
    shift_back(session, LoginCode, 61, "created_at")
    return code


def test_sign_ups_and_activations_are_counted(session: Session) -> None:
    anna, code = new_user(session, ANNA)
    funnel.record_signup(session, invite_code=f" {code.lower()} ")
    boris, _ = new_user(session, BORIS)
    referrals.activate_invite(session, user_id=boris, invite_code=code)
    assert counts(session, anna) == FunnelCounts(opened=0, signed_up=1, activated=1)


async def test_count_signup_counts_only_new_accounts(session: Session) -> None:
    anna, code = new_user(session, ANNA)
    await funnel.count_signup(is_new_user=False, invite_code=code)
    await funnel.count_signup(is_new_user=True, invite_code=None)
    await funnel.count_signup(is_new_user=True, invite_code=code)
    assert counts(session, anna).signed_up == 1


def test_windows_of_7_and_30_days(session: Session, clock: FakeClock) -> None:
    anna, code = new_user(session, ANNA)
    start = clock.now
    for days_ago in (40, 29, 7, 6, 0):
        clock.now = start - timedelta(days=days_ago)
        funnel.record_open(session, invite_code=code, user_agent=BROWSER, opened_cookie=None)
    clock.now = start
    stats = funnel.invite_stats(session, user_id=anna)
    assert (stats.last_7_days.opened, stats.last_30_days.opened, stats.all_time.opened) == (2, 4, 5)
    assert funnel.invite_stats(session, user_id=10_000).all_time == FunnelCounts(0, 0, 0)


def test_concurrent_opens_are_all_counted(session: Session, engine: sa.Engine) -> None:
    anna, code = new_user(session, ANNA)

    def open_link(_: int) -> None:
        with session_scope(engine) as own:
            funnel.record_open(own, invite_code=code, user_agent=BROWSER, opened_cookie=None)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(open_link, range(40)))
    assert counts(session, anna).opened == 40

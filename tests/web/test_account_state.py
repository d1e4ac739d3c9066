"""AccountState called handler by handler (tests/web/test_states.py's way): signing one session or all the
others out, and deleting the account with a code sent to its own phone, each with what a refusal leaves."""

from __future__ import annotations

from typing import Any

import pytest
import reflex as rx
from sqlmodel import Session, select

from referral_app.core.config import Settings
from referral_app.models import User
from referral_app.paths import LOGIN_PAGE
from referral_app.services import auth, login_codes, sessions
from referral_app.services.errors import NotAuthenticated
from referral_app.web.state.account import AccountState
from referral_app.web.state.app import AppState
from tests.helpers import configure
from tests.web.test_login_state import IP, wrong
from tests.web.test_states import PHONE, drain, shown, substate, tree


@pytest.fixture
def settings_no_cooldown(settings: Settings) -> Settings:
    return configure(settings, code_resend_cooldown_seconds=0)


def sign_in(session: Session, user_agent: str) -> auth.LoginResult:
    code = login_codes.issue_code(session, phone=PHONE, client_ip=IP)
    return auth.login_with_code(session, phone=PHONE, code=code, client_ip=IP, user_agent=user_agent)


@pytest.fixture
def tab(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(AppState, "_client_ip", lambda self: IP)
    return substate(tree(), AccountState)


def signed_out(session: Session, token: str) -> bool:
    try:
        auth.check_token(session, token=token)
    except NotAuthenticated:
        return True
    return False


async def open_devices(tab: Any, signed_in: auth.LoginResult) -> None:
    """The tab signed in as `signed_in`, its profile page (and so its devices card) loaded."""
    tab.token = signed_in.access_token
    await AccountState.on_load.fn(tab)


def live_sessions(session: Session, token: str) -> list[str | None]:
    session.rollback()
    return [row.device_label for row in sessions.list_sessions(session, token=token)]


async def test_another_session_is_signed_out_and_the_list_refreshed(
    settings_no_cooldown: Settings, session: Session, tab: Any
) -> None:
    laptop = sign_in(session, "curl/8.5.0")
    phone = sign_in(session, "Mozilla/5.0 (Linux; Android 14) Chrome/131.0 Mobile Safari/537.36")
    await open_devices(tab, phone)
    assert [(row["label"], row["current"]) for row in tab.devices] == [
        ("Chrome on Android", "1"),
        ("curl/8.5.0", ""),
    ]
    other = next(row for row in tab.devices if not row["current"])
    done = await AccountState.sign_out_device.fn(tab, other["id"])
    assert done is not None and [row["label"] for row in tab.devices] == ["Chrome on Android"]
    assert tab.has_other_devices is False
    assert signed_out(session, laptop.access_token)
    assert await AccountState.sign_out_device.fn(tab, "999999") is None  # not listed: nothing sent
    assert await AccountState.sign_out_device.fn(tab, 7) is None  # type: ignore[arg-type]


async def test_signing_out_this_tabs_own_session_ends_it_like_a_logout(
    settings_no_cooldown: Settings, session: Session, tab: Any
) -> None:
    own = sign_in(session, "curl/8.5.0")
    await open_devices(tab, own)
    redirect = await AccountState.sign_out_device.fn(tab, tab.devices[0]["id"])
    assert shown([redirect]) == shown([rx.redirect(LOGIN_PAGE)])
    assert tab.token == "" and tab.devices == []
    assert signed_out(session, own.access_token)


async def test_all_other_sessions_are_signed_out_at_once(
    settings_no_cooldown: Settings, session: Session, tab: Any
) -> None:
    kept = sign_in(session, "curl/8.5.0")
    others = [sign_in(session, "Wget/1.21"), sign_in(session, "HTTPie/3.2")]
    await open_devices(tab, kept)
    assert tab.has_other_devices
    assert await AccountState.sign_out_others.fn(tab) is not None
    assert live_sessions(session, kept.access_token) == ["curl/8.5.0"] and not tab.has_other_devices
    assert all(signed_out(session, other.access_token) for other in others)


async def test_the_account_is_deleted_only_with_the_code_sent_to_its_phone(
    settings_no_cooldown: Settings, session: Session, tab: Any
) -> None:
    signed_in = sign_in(session, "curl/8.5.0")
    tab.token, tab.device_token = signed_in.access_token, signed_in.device_token
    AccountState.start_delete.fn(tab)
    await drain(AccountState.send_delete_code.fn(tab))
    assert tab.delete_phone == PHONE and tab.delete_demo_code and tab.busy is False
    right = tab.delete_demo_code
    assert await AccountState.confirm_delete.fn(tab, {"code": ""}) is not None  # focus back on the field
    await AccountState.confirm_delete.fn(tab, {"code": wrong(right)})
    assert tab.delete_error["code"] == "invalid_code" and tab.token == signed_in.access_token
    session.rollback()
    assert session.exec(select(User.deleted_at).where(User.phone == PHONE)).one() is None
    redirect = await AccountState.confirm_delete.fn(tab, {"code": right})
    assert shown([redirect]) == shown([rx.redirect(LOGIN_PAGE)])
    assert (tab.token, tab.notice_key, tab.deleting) == ("", "account.deleted", False)
    session.rollback()
    assert session.exec(select(User.deleted_at).where(User.id == signed_in.user_id)).one() is not None


def test_cancelling_a_deletion_forgets_its_step() -> None:
    tab = substate(tree(), AccountState)
    AccountState.start_delete.fn(tab)
    tab.delete_phone, tab.delete_demo_code, tab.delete_error = PHONE, "1234", {"code": "invalid_code"}
    AccountState.cancel_delete.fn(tab)
    assert (tab.deleting, tab.delete_phone, tab.delete_demo_code, tab.delete_error) == (False, "", "", {})

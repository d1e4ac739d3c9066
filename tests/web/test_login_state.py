"""LoginState's code step called handler by handler (tests/web/test_states.py's way): what a right and a wrong
code leave in the tab, the device cookie an earlier sign-in set, and the guards that keep one typed code to one
attempt."""

from __future__ import annotations

from typing import Any

import pytest
import reflex as rx
from sqlmodel import Session, select

from referral_app.core.config import Settings
from referral_app.models import LoginCode
from referral_app.paths import PROFILE_PAGE
from referral_app.services import auth, login_codes
from referral_app.web.state.app import AppState
from referral_app.web.state.login import CODE_STEP, PHONE_STEP, LoginState
from tests.helpers import configure
from tests.web.test_states import PHONE, drain, shown, substate, tree

IP = "203.0.113.9"


@pytest.fixture
def tab(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A sign-in tab on the code step for PHONE; its requests come from IP (no socket to read one from)."""
    monkeypatch.setattr(AppState, "_client_ip", lambda self: IP)
    login = substate(tree(), LoginState)
    login.step, login.normalized_phone, login.code_length = CODE_STEP, PHONE, 4
    return login


def wrong(code: str) -> str:
    return "0000" if code != "0000" else "1111"


def attempts(session: Session) -> int:
    session.rollback()
    return session.exec(select(LoginCode.attempts).where(LoginCode.phone == PHONE)).one()


async def test_the_right_code_signs_in_keeps_the_device_cookie_and_leaves_the_code_step(
    settings: Settings, session: Session, tab: Any
) -> None:
    code = login_codes.issue_code(session, phone=PHONE, client_ip=IP)
    events = await drain(LoginState.verify.fn(tab, {"code": code}))
    assert auth.check_token(session, token=tab.token).user_id > 0
    assert tab.device_token.startswith("rfd_")
    assert shown(events[-1][:1]) == shown([rx.redirect(PROFILE_PAGE)])
    assert (tab.step, tab.code, tab.normalized_phone, tab.verifying) == (PHONE_STEP, "", "", False)


async def test_a_second_sign_in_sends_the_device_cookie_and_keeps_it(
    settings: Settings, session: Session, tab: Any
) -> None:
    first = auth.login_with_code(
        session, phone=PHONE, code=login_codes.issue_code(session, phone=PHONE, client_ip=IP)
    )
    tab.device_token = first.device_token
    code = login_codes.issue_code(
        session, phone=PHONE, client_ip=IP, settings=configure(settings, code_resend_cooldown_seconds=0)
    )
    await drain(LoginState.verify.fn(tab, {"code": code}))
    assert tab.token and tab.token != first.access_token
    assert tab.device_token == first.device_token  # the same device: its cookie stays as it was


async def test_a_wrong_code_is_shown_and_the_field_emptied_for_another_try(
    settings: Settings, session: Session, tab: Any
) -> None:
    code = login_codes.issue_code(session, phone=PHONE, client_ip=IP)
    events = await drain(LoginState.verify.fn(tab, {"code": wrong(code)}))
    assert tab.code_error["code"] == "invalid_code" and tab.code_error_text
    assert (tab.token, tab.step, tab.code, tab.verifying) == ("", CODE_STEP, "", False)
    assert shown(events[-1][:1]) == shown([rx.set_value("code-input", "")])
    assert attempts(session) == 1


async def test_one_typed_code_is_one_attempt_however_often_it_is_sent(
    settings: Settings, session: Session, tab: Any
) -> None:
    code = login_codes.issue_code(session, phone=PHONE, client_ip=IP)
    # The last digit's own check and Enter both send the same code.
    await drain(LoginState.verify.fn(tab, {"code": wrong(code)}))
    assert await drain(LoginState.verify.fn(tab, {"code": wrong(code)})) == []
    assert attempts(session) == 1
    # Typed again from the start, it is a new try.
    for typed in (wrong(code)[:1], wrong(code)):
        events = LoginState.set_code.fn(tab, typed)
    assert LoginState.verify in events
    await drain(LoginState.verify.fn(tab))
    assert attempts(session) == 2


async def test_nothing_is_checked_off_the_code_step_or_without_a_code(
    settings: Settings, session: Session, tab: Any
) -> None:
    code = login_codes.issue_code(session, phone=PHONE, client_ip=IP)
    assert await drain(LoginState.verify.fn(tab, {"code": ""})) == []
    assert await drain(LoginState.verify.fn(tab, {"code": 1234})) == []  # not a string: dropped
    tab.step = PHONE_STEP
    assert await drain(LoginState.verify.fn(tab, {"code": code})) == []
    assert attempts(session) == 0 and tab.token == ""

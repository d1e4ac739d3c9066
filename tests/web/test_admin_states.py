"""The console's state called directly, handler by handler (as tests/web/test_states.py does): a fresh code before
an action when the sign-in is old, and a role taken away mid-session."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, select

from referral_app.core.config import Settings
from referral_app.models import LoginCode, User
from referral_app.services import admin, auth, login_codes
from referral_app.services.errors import NotAuthenticated
from referral_app.web.state.admin import AdminState, _int
from tests.helpers import FakeClock, shift_back
from tests.web.test_states import drain, substate, tree

OPERATOR, TARGET, IP = "+79990001122", "+79123456789", "203.0.113.5"


def login(session: Session, phone: str) -> auth.LoginResult:
    code = login_codes.issue_code(session, phone=phone, client_ip=None)
    result = auth.login_with_code(session, phone=phone, code=code)
    shift_back(session, LoginCode, 61, "created_at")
    return result


@pytest.fixture
def console(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A console tab; its requests come from IP (there is no socket to read an address from here)."""
    monkeypatch.setattr(AdminState, "_client_ip", lambda self: IP)
    return substate(tree(), AdminState)


def blocked(session: Session, phone: str) -> bool:
    session.rollback()
    return session.exec(select(User.blocked_at).where(User.phone == phone)).one() is not None


async def test_an_old_sign_in_confirms_with_a_fresh_code_before_the_action(
    settings: Settings, session: Session, clock: FakeClock, console: Any
) -> None:
    admin.grant(session, phone=OPERATOR, by="tests")
    operator, target = login(session, OPERATOR), login(session, TARGET)
    clock.advance(16 * 60)
    console.token, console.user_id = operator.access_token, target.user_id
    await console._show_user()
    assert console.profile["phone"] == "+7 912 345-67-89"

    await drain(AdminState.start_action.fn(console, "block"))
    await drain(AdminState.confirm_action.fn(console, {"reason": "takeover"}))
    assert console.reauth_needed and console.action_error["code"] == "reauth_required"
    assert console.pending_action == "block" and not blocked(session, TARGET)

    await drain(AdminState.send_reauth_code.fn(console))
    assert console.reauth_sent and console.reauth_demo_code
    await drain(
        AdminState.confirm_reauth.fn(console, {"code": "0000" if console.reauth_demo_code != "0000" else "1111"})
    )
    assert console.reauth_error["code"] == "invalid_code" and console.token == operator.access_token
    await drain(AdminState.confirm_reauth.fn(console, {"code": console.reauth_demo_code}))
    assert console.token != operator.access_token and not console.reauth_needed
    with pytest.raises(NotAuthenticated):  # the old session ended with the new sign-in
        auth.authenticate(session, token=operator.access_token)

    await drain(AdminState.confirm_action.fn(console, {"reason": "takeover"}))
    assert console.pending_action == "" and console.action_error == {}
    assert blocked(session, TARGET)
    assert console.profile["status"] == "заблокирован"


async def test_a_removed_operator_loses_the_console_on_the_next_call(
    settings: Settings, session: Session, console: Any
) -> None:
    admin.grant(session, phone=OPERATOR, by="tests")
    operator = login(session, OPERATOR)
    console.token = operator.access_token
    await drain(AdminState.load_users.fn(console))
    assert console.section == "users" and len(console.users) == 1
    await drain(AdminState.check_operator.fn(console))
    assert console.is_operator

    admin.remove(session, phone=OPERATOR, by="tests")
    console.section = "users"
    await drain(AdminState.search.fn(console, {"query": OPERATOR}))
    assert (console.section, console.users, console.is_operator) == ("", [], False)
    assert console.token == operator.access_token  # still signed in, as an ordinary user


@pytest.mark.parametrize(
    ("sent", "read"),
    [
        ("12", 12),
        (12, 12),
        (" 7 ", 7),
        ("2147483647", 2**31 - 1),
        ("2147483648", 0),
        ("99999999999", 0),
        (2**40, 0),
        ("-1", 0),
        ("1e3", 0),
        (True, 0),
        (None, 0),
        ([1], 0),
    ],
)
def test_ids_from_the_client_are_row_ids_or_nothing(sent: object, read: int) -> None:
    assert _int(sent) == read

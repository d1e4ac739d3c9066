"""The console's state called directly, handler by handler (as tests/web/test_states.py does): a fresh code before
an action when the sign-in is old, and a role taken away mid-session."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import Session, select

from referral_app.core.clock import utcnow
from referral_app.core.config import Settings
from referral_app.models import AuditEvent, LoginCode, SignInGuard, SmsMessage, User
from referral_app.services import admin, auth, login_codes, referrals, users
from referral_app.services.devices import STRANGERS
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


async def test_security_page_ends_a_listed_lock_only(settings: Settings, session: Session, console: Any) -> None:
    admin.grant(session, phone=OPERATOR, by="tests")
    operator, target = login(session, OPERATOR), login(session, TARGET)
    stranger = "+79001234567"  # locked before anyone signed up with it
    for phone in (TARGET, stranger):
        session.add(
            SignInGuard(phone=phone, device=STRANGERS, failures=9, locked_until=utcnow() + timedelta(hours=1))
        )
    session.commit()
    console.token = operator.access_token
    await drain(AdminState.load_security.fn(console))
    assert [r["e164"] for r in console.locked] == [TARGET, stranger]
    assert console.locked[0]["href"].endswith(f"?id={target.user_id}") and console.locked[1]["href"] == ""

    for action, chosen in (("end_locks", OPERATOR), ("block", TARGET), ("end_locks", str(target.user_id))):
        await drain(AdminState.start_action.fn(console, action, chosen))
        assert console.pending_action == ""  # only ending a listed phone's locks
    await drain(AdminState.start_action.fn(console, "end_locks", TARGET))
    assert console.pending_text == "Снять все блокировки номера +7 912 345-67-89 сейчас?"
    await drain(AdminState.confirm_action.fn(console, {"reason": "owner called"}))
    assert console.pending_action == "" and [r["e164"] for r in console.locked] == [stranger]
    await drain(AdminState.start_action.fn(console, "end_locks", stranger))
    await drain(AdminState.confirm_action.fn(console, {"reason": "signing up"}))
    assert console.locked == []
    session.rollback()
    ended = session.exec(select(AuditEvent).where(AuditEvent.event == "admin_lock_ended")).all()
    assert sorted((e.user_id, e.phone, e.detail) for e in ended) == [
        (operator.user_id, stranger, "1 locks: signing up"),
        (operator.user_id, TARGET, f"#{target.user_id} 1 locks: owner called"),
    ]


async def test_sms_page_and_referral_tree(settings: Settings, session: Session, console: Any) -> None:
    admin.grant(session, phone=OPERATOR, by="tests")
    operator, target = login(session, OPERATOR), login(session, TARGET)
    code = users.get_profile(session, user_id=operator.user_id).invite_code
    referrals.activate_invite(session, user_id=target.user_id, invite_code=code)
    now = utcnow()
    for n, (status, provider) in enumerate((("delivered", "smsru"), ("failed", ""), ("sent", "smsru"))):
        session.add(
            SmsMessage(
                id=f"m{n}",
                phone=TARGET,
                provider=provider,
                status=status,
                cost=Decimal("2.5") if provider else None,
                currency="RUB" if provider else None,
                created_at=now,
            )
        )
    session.commit()
    console.token = operator.access_token
    await drain(AdminState.load_sms.fn(console))
    assert console.sms_day == {"sent": "2", "delivered": "1", "failed": "1", "rate": "50%", "spend": "5.00 RUB"}
    assert [p["provider"] for p in console.sms_providers] == ["никто не принял", "smsru"]
    assert len(console.sms) == 3 and "smsru" in console.provider_names
    await drain(AdminState.filter_sms.fn(console, {"status": "failed", "provider": "made-up"}))
    assert console.sms_filter == {"status": "failed", "provider": ""}
    assert [(m["status"], m["provider"], m["cost"]) for m in console.sms] == [("failed", "—", "—")]

    console.user_id = operator.user_id
    await console._show_user()
    await drain(AdminState.show_tree.fn(console))
    assert console.tree_shown and console.tree_complete
    assert [(n["phone"], n["indent"]) for n in console.tree] == [("+7 912 345-67-89", "0px")]


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

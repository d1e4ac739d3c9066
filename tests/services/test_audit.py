"""The audit trail: the security events each flow writes, with phone/user and IP — never codes or tokens."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from referral_app.core.config import Settings
from referral_app.models import AuditEvent, LoginCode
from referral_app.services import auth, login_codes, referrals, users
from referral_app.services.errors import InvalidCode, RateLimited, ServiceError, TooManyAttempts
from tests.helpers import configure, shift_back

PHONE = "+79123456789"
IP = "198.51.100.7"


def events(session: Session) -> list[tuple[str, str | None, str | None]]:
    session.rollback()
    rows = session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all()
    return [(row.event, row.phone, row.detail) for row in rows]


def test_login_flow_events(session: Session) -> None:
    code = login_codes.issue_code(session, phone=PHONE, client_ip=IP)
    result = auth.login_with_code(session, phone=PHONE, code=code, client_ip=IP)
    auth.logout(session, token=result.access_token, client_ip=IP)
    assert events(session) == [
        ("code_requested", PHONE, None),
        ("new_user", PHONE, None),
        ("login", PHONE, None),
        ("token_revoked", None, None),
    ]
    rows = session.exec(select(AuditEvent)).all()
    assert {row.client_ip for row in rows} == {IP}
    assert {row.user_id for row in rows if row.event != "code_requested"} == {result.user_id}
    # No code, code HMAC or token anywhere in the trail.
    code_hmac = session.exec(select(LoginCode.code_hmac)).one()
    values = [str(v) for row in rows for v in row.model_dump().values() if v is not None]
    assert not any(v in (code, code_hmac) or result.access_token in v for v in values)


async def test_code_sent_is_recorded_after_delivery(settings: Settings, session: Session) -> None:
    await login_codes.send_login_code(phone="8 912 345-67-89", region=None, client_ip=IP)
    assert [e for e, _, _ in events(session)] == ["code_requested", "code_sent"]


def test_refused_codes_say_which_limit(session: Session) -> None:
    login_codes.issue_code(session, phone=PHONE, client_ip=IP)
    with pytest.raises(RateLimited):
        login_codes.issue_code(session, phone=PHONE, client_ip=IP)
    assert events(session)[-1] == ("code_refused", PHONE, "cooldown")


def test_wrong_codes_burn_and_lock_are_recorded(session: Session, settings: Settings) -> None:
    configure(settings, phone_max_failures=6)
    code = login_codes.issue_code(session, phone=PHONE, client_ip=IP)
    wrong = f"{(int(code) + 1) % 10_000:04d}"
    for _ in range(6):
        with pytest.raises((InvalidCode, TooManyAttempts, RateLimited)):
            auth.login_with_code(session, phone=PHONE, code=wrong, client_ip=IP)
    trail = events(session)
    assert [e for e in trail if e[0] == "wrong_code"] == [
        ("wrong_code", PHONE, "invalid_code"),
        ("wrong_code", PHONE, "invalid_code"),
        ("wrong_code", PHONE, "invalid_code"),
        ("wrong_code", PHONE, "invalid_code"),
        ("wrong_code", PHONE, "too_many_attempts"),
        ("wrong_code", PHONE, "rate_limited"),
    ]
    assert ("code_burned", PHONE, None) in trail
    assert trail.index(("phone_locked", PHONE, None)) > trail.index(("code_burned", PHONE, None))
    assert not any(e == "login" for e, _, _ in trail)


def test_invite_activation_and_rejections(session: Session) -> None:
    def user(phone: str):  # type: ignore[no-untyped-def]
        shift_back(session, LoginCode, 61, "created_at")
        code = login_codes.issue_code(session, phone=phone, client_ip=IP)
        return users.get_profile(session, user_id=auth.login_with_code(session, phone=phone, code=code).user_id)

    alice, bob = user("+79123456789"), user("+79001112233")
    for code in ("ZZZZZZ", bob.invite_code):
        with pytest.raises(ServiceError):
            referrals.activate_invite(session, user_id=bob.id, invite_code=code, client_ip=IP)
    referrals.activate_invite(session, user_id=bob.id, invite_code=alice.invite_code, client_ip=IP)
    with pytest.raises(ServiceError):
        referrals.activate_invite(session, user_id=alice.id, invite_code=bob.invite_code, client_ip=IP)
    invite_events = [(e, d) for e, _, d in events(session) if e.startswith("invite")]
    assert invite_events == [
        ("invite_rejected", "invite_code_not_found:ZZZZZZ"),
        ("invite_rejected", f"own_invite_code:{bob.invite_code}"),
        ("invite_activated", alice.invite_code),
        ("invite_rejected", f"referral_cycle:{bob.invite_code}"),
    ]


def test_recorded_events_cannot_be_altered(session: Session) -> None:
    login_codes.issue_code(session, phone=PHONE, client_ip=IP)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        session.execute(sa.update(AuditEvent).values(detail="tampered"))
        session.commit()
    session.rollback()
    assert events(session) == [("code_requested", PHONE, None)]


def test_junk_invite_codes_are_not_copied_into_the_trail(session: Session) -> None:
    code = login_codes.issue_code(session, phone=PHONE, client_ip=IP)
    profile = users.get_profile(session, user_id=auth.login_with_code(session, phone=PHONE, code=code).user_id)
    for junk in ("AB\x00CD", "'; DROP TABLE users; --", "X" * 40):
        with pytest.raises(ServiceError):
            referrals.activate_invite(session, user_id=profile.id, invite_code=junk, client_ip=IP)
    rejected = [d for e, _, d in events(session) if e == "invite_rejected"]
    assert rejected == ["invite_code_not_found", "invite_code_not_found", "invite_code_not_found"]

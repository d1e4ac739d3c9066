"""Devices and sessions: what a session shows, listing mine, revoking one, logout scopes, their audit."""

from __future__ import annotations

import pytest
from sqlmodel import Session, col, select

from referral_app.models import AuditEvent, AuthToken, LoginCode
from referral_app.services import auth, login_codes, sessions
from referral_app.services.devices import device_label, mask_ip
from referral_app.services.errors import NotAuthenticated, SessionNotFound
from referral_app.services.sessions import LogoutScope
from tests.helpers import shift_back

PHONE, OTHER = "+79123456789", "+79001112233"
ANDROID_CHROME = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36"
IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
WINDOWS_EDGE = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36 "
    "Edg/131.0"
)


def login(session: Session, phone: str = PHONE, user_agent: str | None = None, ip: str | None = None) -> str:
    code = login_codes.issue_code(session, phone=phone, client_ip=ip)
    token = auth.login_with_code(session, phone=phone, code=code, client_ip=ip, user_agent=user_agent)
    shift_back(session, LoginCode, 61, "created_at")  # past the resend cooldown, for the next sign-in
    return token.access_token


@pytest.mark.parametrize(
    ("user_agent", "label"),
    [
        (ANDROID_CHROME, "Chrome on Android"),
        (IPHONE_SAFARI, "Safari on iPhone"),
        (WINDOWS_EDGE, "Edge on Windows"),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Linux"),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0 Safari/537.36",
            "Chrome on Linux",
        ),
        ("curl/8.5.0", "curl/8.5.0"),
        ("PostmanRuntime/7.36.0", "PostmanRuntime/7.36.0"),
        ("", None),
        (None, None),
        ("\x00<script>", None),
        ("x" * 10_000, "x" * 60),
    ],
)
def test_device_label_is_short_and_readable(user_agent: str | None, label: str | None) -> None:
    assert device_label(user_agent) == label


@pytest.mark.parametrize(
    ("ip", "masked"),
    [
        ("203.0.113.7", "203.0.113.*"),
        ("2001:db8:85a3:1:2:3:4:5", "2001:db8:85a3::*"),
        ("::ffff:198.51.100.9", "198.51.100.*"),
        ("not an ip", None),
        (None, None),
    ],
)
def test_ip_is_masked(ip: str | None, masked: str | None) -> None:
    assert mask_ip(ip) == masked


def test_sessions_list_mine_with_device_and_masked_ip(session: Session) -> None:
    phone_token = login(session, user_agent=ANDROID_CHROME, ip="203.0.113.7")
    laptop_token = login(session, user_agent=WINDOWS_EDGE, ip="198.51.100.20")
    login(session, OTHER)  # someone else's session is never listed
    listed = sessions.list_sessions(session, token=laptop_token)
    assert [(s.device_label, s.client_ip, s.current) for s in listed] == [
        ("Edge on Windows", "198.51.100.*", True),
        ("Chrome on Android", "203.0.113.*", False),
    ]
    assert all(s.created_at and s.last_used_at for s in listed)
    assert "203.0.113.7" not in {row.client_ip for row in session.exec(select(AuthToken)).all()}
    assert [s.current for s in sessions.list_sessions(session, token=phone_token)] == [False, True]


def test_revoke_one_session_of_mine(session: Session) -> None:
    lost_phone = login(session, user_agent=ANDROID_CHROME)
    laptop = login(session, user_agent=WINDOWS_EDGE)
    lost_id = next(s.id for s in sessions.list_sessions(session, token=laptop) if not s.current)
    sessions.revoke_session(session, token=laptop, session_id=lost_id, client_ip="203.0.113.7")
    with pytest.raises(NotAuthenticated):
        auth.authenticate(session, token=lost_phone)
    assert auth.authenticate(session, token=laptop)
    assert [s.current for s in sessions.list_sessions(session, token=laptop)] == [True]
    revoked = session.exec(select(AuditEvent).where(AuditEvent.event == "token_revoked")).one()
    assert (revoked.detail, revoked.client_ip) == (f"revoked:{lost_id}", "203.0.113.7")
    with pytest.raises(SessionNotFound):  # already ended
        sessions.revoke_session(session, token=laptop, session_id=lost_id)


def test_another_users_session_id_is_not_found(session: Session) -> None:
    mine = login(session)
    theirs = login(session, OTHER)
    their_id = sessions.list_sessions(session, token=theirs)[0].id
    for session_id in (their_id, 10**9, 0, -1):
        with pytest.raises(SessionNotFound) as refused:
            sessions.revoke_session(session, token=mine, session_id=session_id)
        assert refused.value.status_code == 404
    assert auth.authenticate(session, token=theirs)  # untouched
    assert session.exec(select(AuditEvent).where(AuditEvent.event == "token_revoked")).all() == []
    with pytest.raises(NotAuthenticated):
        sessions.revoke_session(session, token="rfa_nope", session_id=their_id)


def test_an_expired_session_is_neither_listed_nor_revocable(session: Session) -> None:
    old = login(session)
    current = login(session)
    old_row = session.exec(select(AuthToken).order_by(col(AuthToken.id))).first()
    assert old_row is not None and old_row.id is not None
    old_row.expires_at = old_row.created_at
    session.add(old_row)
    session.commit()
    assert [s.current for s in sessions.list_sessions(session, token=current)] == [True]
    with pytest.raises(SessionNotFound):
        sessions.revoke_session(session, token=current, session_id=old_row.id)
    with pytest.raises(NotAuthenticated):
        auth.authenticate(session, token=old)


@pytest.mark.parametrize(
    ("scope", "current_alive", "others_alive"),
    [(LogoutScope.CURRENT, False, True), (LogoutScope.OTHERS, True, False), (LogoutScope.ALL, False, False)],
)
def test_logout_scopes(session: Session, scope: LogoutScope, current_alive: bool, others_alive: bool) -> None:
    others = [login(session), login(session)]
    current = login(session)
    stranger = login(session, OTHER)
    ended = sessions.logout(session, token=current, scope=scope)
    assert ended == (not current_alive) + 2 * (not others_alive)

    def alive(token: str) -> bool:
        try:
            auth.authenticate(session, token=token)
        except NotAuthenticated:
            return False
        return True

    assert alive(current) is current_alive
    assert [alive(token) for token in others] == [others_alive] * 2
    assert alive(stranger)
    details = session.exec(select(AuditEvent.detail).where(AuditEvent.event == "token_revoked")).all()
    assert len(details) == ended and all(d and d.startswith(f"logout_{scope}:") for d in details)


def test_logout_others_with_no_other_session_ends_none(session: Session) -> None:
    token = login(session)
    assert sessions.logout(session, token=token, scope=LogoutScope.OTHERS) == 0
    assert auth.authenticate(session, token=token)


def test_logout_revokes_server_side(session: Session) -> None:
    token, other = login(session), login(session, OTHER)
    sessions.logout(session, token=token)
    with pytest.raises(NotAuthenticated):
        auth.authenticate(session, token=token)
    with pytest.raises(NotAuthenticated):
        sessions.logout(session, token=token)
    assert auth.authenticate(session, token=other)  # other sessions are untouched
    assert session.exec(select(AuthToken).where(col(AuthToken.revoked_at).is_not(None))).one()

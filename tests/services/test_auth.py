"""Tokens: format, storage as SHA-256 only, expiry, last-used tracking, the profile read with the token."""

from __future__ import annotations

import hashlib

import pytest
from sqlmodel import Session, select, update

from referral_app.core.clock import utcnow
from referral_app.core.config import Settings
from referral_app.limits import PROFILE_REFERRALS
from referral_app.models import AuthToken, LoginCode, User
from referral_app.services import auth, login_codes, referrals, sessions, users
from referral_app.services.errors import NotAuthenticated
from tests.helpers import configure, shift_back

PHONE = "+79123456789"


def login(session: Session, phone: str = PHONE) -> auth.LoginResult:
    return auth.login_with_code(
        session, phone=phone, code=login_codes.issue_code(session, phone=phone, client_ip=None)
    )


def test_first_login_registers_then_logs_in(session: Session) -> None:
    first = login(session)
    first_profile = users.get_profile(session, user_id=first.user_id)
    assert first.is_new_user and first_profile.phone == PHONE
    shift_back(session, LoginCode, 61, "created_at")
    second = login(session)
    assert not second.is_new_user
    assert second.user_id == first.user_id
    assert users.get_profile(session, user_id=second.user_id).invite_code == first_profile.invite_code
    assert session.exec(select(User)).one().last_login_at is not None


def test_token_is_opaque_long_and_stored_only_as_sha256(session: Session) -> None:
    token = login(session).access_token
    assert token.startswith("rfa_") and len(token) >= 4 + 43
    row = session.exec(select(AuthToken)).one()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in row.token_hash
    assert (row.expires_at - row.created_at).days == 30


def test_authenticate_accepts_live_tokens_only(session: Session) -> None:
    result = login(session)
    assert auth.authenticate(session, token=result.access_token) == result.user_id
    for bad in (None, "", "rfa_unknown", "Bearer x", result.access_token + "x", "x" * 500):
        with pytest.raises(NotAuthenticated) as caught:
            auth.authenticate(session, token=bad)
        assert caught.value.status_code == 401
        assert caught.value.headers() == {"WWW-Authenticate": "Bearer"}


def test_expired_token_is_rejected(session: Session) -> None:
    token = login(session).access_token
    shift_back(session, AuthToken, 30 * 24 * 3600 + 1, "expires_at")
    with pytest.raises(NotAuthenticated):
        auth.authenticate(session, token=token)


def test_profile_for_token_answers_as_the_token_check_and_the_profile_read(session: Session) -> None:
    """The one-statement read GET /profile uses: the same answers as check_token, then get_profile."""
    inviter, invited = login(session), login(session, "+79001112233")
    referrals.activate_invite(
        session,
        user_id=invited.user_id,
        invite_code=users.get_profile(session, user_id=inviter.user_id).invite_code,
    )
    for result in (inviter, invited):  # with a referral, and without (its page is not read)
        checked, profile = auth.profile_for_token(session, token=result.access_token)
        assert checked == auth.check_token(session, token=result.access_token)
        assert profile == users.get_profile(session, user_id=result.user_id)
    assert [r.phone for r in auth.profile_for_token(session, token=inviter.access_token)[1].referrals] == [
        "+79001112233"
    ]
    for bad in (None, "", "rfa_unknown", "Bearer x", inviter.access_token + "x", "x" * 500):
        with pytest.raises(NotAuthenticated):
            auth.profile_for_token(session, token=bad)
    shift_back(session, AuthToken, 30 * 24 * 3600 + 1, "expires_at")  # every token expired
    with pytest.raises(NotAuthenticated):
        auth.profile_for_token(session, token=inviter.access_token)


def test_profile_for_token_refuses_revoked_tokens_and_deleted_accounts(session: Session) -> None:
    revoked, deleted = login(session), login(session, "+79001112233")
    sessions.logout(session, token=revoked.access_token)
    with pytest.raises(NotAuthenticated):
        auth.profile_for_token(session, token=revoked.access_token)
    session.exec(
        update(User).where(User.id == deleted.user_id).values(deleted_at=utcnow())
    )  # its token stays live
    session.commit()
    assert auth.check_token(session, token=deleted.access_token).user_id == deleted.user_id
    with pytest.raises(NotAuthenticated):
        auth.profile_for_token(session, token=deleted.access_token)


def test_profile_for_token_carries_the_newest_referrals_up_to_its_limit(session: Session) -> None:
    """The web profile page asks for one page of referrals; a limit over PROFILE_REFERRALS is capped."""
    inviter = login(session)
    code = users.get_profile(session, user_id=inviter.user_id).invite_code
    invited = [login(session, f"+7900111223{n}") for n in range(3)]
    for result in invited:
        referrals.activate_invite(session, user_id=result.user_id, invite_code=code)
    newest = [p.phone for p in users.get_profile(session, user_id=inviter.user_id).referrals]
    for limit, expected in ((2, newest[:2]), (0, []), (PROFILE_REFERRALS + 1, newest), (-1, [])):
        profile = auth.profile_for_token(session, token=inviter.access_token, referrals_limit=limit)[1]
        assert [r.phone for r in profile.referrals] == expected and profile.referrals_count == 3


def test_last_used_is_refreshed_at_most_once_per_interval(session: Session, settings: Settings) -> None:
    token = login(session).access_token
    shift_back(session, AuthToken, 30, "last_used_at")
    before = session.exec(select(AuthToken.last_used_at)).one()
    auth.authenticate(session, token=token)
    assert session.exec(select(AuthToken.last_used_at)).one() == before  # within 60 s: no write
    configure(settings, token_touch_interval_seconds=0)
    auth.authenticate(session, token=token)
    assert session.exec(select(AuthToken.last_used_at)).one() > before


def test_concurrent_requests_with_one_token_all_authenticate(engine, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    # Every call refreshes last_used_at (interval 0), as the first requests after each interval do. On
    # SQLite a refresh that turned the token read into a write failed at once ("database is locked") when
    # a concurrent refresh had written in between.
    from concurrent.futures import ThreadPoolExecutor

    with Session(engine, expire_on_commit=False) as s:
        result = login(s)
    configure(settings, token_touch_interval_seconds=0)

    def check(_: int) -> int:
        with Session(engine, expire_on_commit=False) as s:
            return auth.authenticate(s, token=result.access_token)

    with ThreadPoolExecutor(max_workers=16) as pool:
        assert set(pool.map(check, range(200))) == {result.user_id}


def test_concurrent_logouts_all_succeed(engine, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    # Each logout reads its token, then revokes it: that must be one write transaction from the start, or
    # on SQLite it fails ("database is locked") when another logout wrote in between.
    from concurrent.futures import ThreadPoolExecutor

    with Session(engine, expire_on_commit=False) as s:
        tokens = [login(s, f"+7912000{n:04d}").access_token for n in range(60)]

    def logout(token: str) -> None:
        with Session(engine, expire_on_commit=False) as s:
            sessions.logout(s, token=token)

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(logout, tokens))
    with Session(engine) as s:
        assert len(s.exec(select(AuthToken).where(AuthToken.revoked_at.is_not(None))).all()) == 60

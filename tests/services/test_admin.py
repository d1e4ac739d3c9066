"""The operator's console's rules (services/admin.py): who is an operator, the lists and the actions, each
checked against the database and the audit trail."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session, col, select

from referral_app.core.clock import utcnow
from referral_app.core.config import Settings
from referral_app.limits import ADMIN_REASON_MAX_LENGTH, CONSOLE_PAGE_SIZE
from referral_app.models import AuditEvent, AuthToken, Device, LoginCode, SignInGuard, SmsMessage, User
from referral_app.services import admin, auth, login_codes, referrals, refusal_cache, users
from referral_app.services.admin import AuditFilter, LockScope, SmsFilter, UserSort
from referral_app.services.audit import Event
from referral_app.services.devices import ALL_DEVICES, STRANGERS
from referral_app.services.errors import (
    AccountBlocked,
    InvalidCode,
    NotAuthenticated,
    NotFound,
    RateLimited,
    ReasonRequired,
    ReauthRequired,
    SessionNotFound,
)
from tests.helpers import FakeClock, shift_back

OPERATOR, ANNA, BORIS, VERA = "+79990001122", "+79123456789", "+79001112233", "+79005556677"
REASON = "customer called"


def login(session: Session, phone: str, device_token: str | None = None) -> auth.LoginResult:
    code = login_codes.issue_code(session, phone=phone, client_ip=None)
    result = auth.login_with_code(session, phone=phone, code=code, device_token=device_token, user_agent="curl/8")
    shift_back(session, LoginCode, 61, "created_at")
    return result


def operator(session: Session) -> str:
    admin.grant(session, phone=OPERATOR, by="tests")
    return login(session, OPERATOR).access_token


def events(session: Session, event: Event) -> list[AuditEvent]:
    session.rollback()
    return list(
        session.exec(select(AuditEvent).where(AuditEvent.event == event.value).order_by(col(AuditEvent.id)))
    )


def test_grant_creates_the_account_remove_takes_the_role_and_both_are_audited(session: Session) -> None:
    listing, changed = admin.grant(session, phone="8 (999) 000-11-22", by="root")
    assert changed and listing.phone == OPERATOR
    assert admin.grant(session, phone=OPERATOR, by="root")[1] is False  # already one: nothing written
    assert [o.phone for o in admin.list_operators(session)] == [OPERATOR]
    granted = events(session, Event.ADMIN_GRANTED)
    assert [(e.user_id, e.phone, e.detail) for e in granted] == [(listing.id, OPERATOR, "by root")]

    assert admin.remove(session, phone=OPERATOR, by="root") is True
    assert admin.remove(session, phone=OPERATOR, by="root") is False
    assert admin.list_operators(session) == []
    assert [e.detail for e in events(session, Event.ADMIN_REMOVED)] == ["by root"]
    with pytest.raises(NotFound):
        admin.remove(session, phone=VERA, by="root")  # no such account


def test_only_a_live_unblocked_operator_is_one(session: Session) -> None:
    token = operator(session)
    assert admin.require_operator(session, token=token).phone == OPERATOR
    someone = login(session, ANNA).access_token
    for refused in (someone, None, "", "rfa_made-up"):
        with pytest.raises(NotFound):
            admin.require_operator(session, token=refused)
        with pytest.raises(NotFound):
            admin.find_users(session, token=refused)
    # Removed: the same token is refused from its next call on.
    admin.remove(session, phone=OPERATOR, by="tests")
    with pytest.raises(NotFound):
        admin.require_operator(session, token=token)
    # Blocked (by another operator): not an operator any more either.
    admin.grant(session, phone=OPERATOR, by="tests")
    second = operator_of(session, VERA)
    admin.set_blocked(session, token=second, user_id=user_id(session, OPERATOR), blocked=True, reason=REASON)
    with pytest.raises(NotFound):
        admin.require_operator(session, token=token)


def operator_of(session: Session, phone: str) -> str:
    admin.grant(session, phone=phone, by="tests")
    return login(session, phone).access_token


def user_id(session: Session, phone: str) -> int:
    session.rollback()
    found = session.exec(select(User.id).where(User.phone == phone)).one()
    assert found is not None
    return found


def test_actions_need_a_recent_sign_in_reads_do_not(session: Session, clock: FakeClock) -> None:
    token = operator(session)
    anna = login(session, ANNA)
    clock.advance(16 * 60)
    assert admin.user_detail(session, token=token, user_id=anna.user_id).user.phone == ANNA
    with pytest.raises(ReauthRequired):
        admin.sign_out(session, token=token, user_id=anna.user_id, reason=REASON)
    with pytest.raises(ReauthRequired):
        admin.set_blocked(session, token=token, user_id=anna.user_id, blocked=True, reason=REASON)
    fresh = login(session, OPERATOR).access_token  # a fresh code
    assert admin.sign_out(session, token=fresh, user_id=anna.user_id, reason=REASON) == 1


def test_an_action_needs_a_reason(session: Session) -> None:
    token = operator(session)
    anna = login(session, ANNA)
    for bad in ("", "   ", "x" * (ADMIN_REASON_MAX_LENGTH + 1)):
        with pytest.raises(ReasonRequired):
            admin.set_blocked(session, token=token, user_id=anna.user_id, blocked=True, reason=bad)
    assert auth.authenticate(session, token=anna.access_token) == anna.user_id  # nothing happened


def test_search_by_phone_in_any_form_code_name_and_email(session: Session) -> None:
    token = operator(session)
    anna, boris = login(session, ANNA), login(session, BORIS)
    users.update_profile(session, user_id=anna.user_id, name="Anna Petrova", email="Anna@Example.org")
    code = users.get_profile(session, user_id=boris.user_id).invite_code

    def found(query: str) -> list[str]:
        return [row.phone for row in admin.find_users(session, token=token, query=query).items]

    assert found("8 (912) 345-67-89") == [ANNA]
    assert found("+7 912 345 67 89") == [ANNA]
    assert found(code.lower()) == [BORIS]
    assert found("anna p") == [ANNA]
    assert found("anna@example.org") == [ANNA]
    assert found("100%") == []  # LIKE's wildcards are literal
    assert found("8 (900) 000-00-00") == []
    assert set(found("")) == {OPERATOR, ANNA, BORIS}


def test_user_list_is_paged_and_sorted_on_the_server(session: Session) -> None:
    token = operator(session)
    anna = login(session, ANNA)
    code = users.get_profile(session, user_id=anna.user_id).invite_code
    for n in range(CONSOLE_PAGE_SIZE + 2):
        invited, _ = users.get_or_create_user(session, phone=f"+7916000{n:04d}")
        session.commit()
        assert invited.id is not None
        if n < 3:
            referrals.activate_invite(session, user_id=invited.id, invite_code=code)
    first = admin.find_users(session, token=token, sort=UserSort.JOINED)
    second = admin.find_users(session, token=token, sort=UserSort.JOINED, page=1)
    assert len(first.items) == CONSOLE_PAGE_SIZE and first.has_more
    assert len(second.items) == 4 and not second.has_more  # 27 invited, Anna and the operator
    assert {r.id for r in first.items}.isdisjoint({r.id for r in second.items})
    joined = [r.created_at for r in first.items + second.items]
    assert joined == sorted(joined, reverse=True)
    by_referrals = admin.find_users(session, token=token, sort=UserSort.REFERRALS).items
    assert [(r.phone, r.referrals) for r in by_referrals] == [(ANNA, 3)]
    signed_in = admin.find_users(session, token=token, sort=UserSort.LAST_SIGN_IN).items
    assert [r.phone for r in signed_in] == [ANNA, OPERATOR]  # the invited never signed in
    assert admin.find_users(session, token=token, sort="nonsense").items[0].created_at == joined[0]


def test_a_users_page_shows_the_chain_sessions_devices_and_locks(session: Session) -> None:
    token = operator(session)
    vera, anna, boris = login(session, VERA), login(session, ANNA), login(session, BORIS)
    referrals.activate_invite(
        session, user_id=anna.user_id, invite_code=users.get_profile(session, user_id=vera.user_id).invite_code
    )
    referrals.activate_invite(
        session, user_id=boris.user_id, invite_code=users.get_profile(session, user_id=anna.user_id).invite_code
    )
    login(session, BORIS, device_token=boris.device_token)  # a second session on the same device
    until = utcnow() + timedelta(minutes=10)
    session.add(SignInGuard(phone=BORIS, device=STRANGERS, failures=9, locked_until=until))
    session.add(SignInGuard(phone=BORIS, device=ALL_DEVICES, failures=3, locked_until=utcnow() - timedelta(1)))
    session.commit()

    detail = admin.user_detail(session, token=token, user_id=boris.user_id)
    assert [link.phone for link in detail.inviters] == [ANNA, VERA]
    assert len(detail.sessions) == 2 and len({s.device_id for s in detail.sessions}) == 1
    assert [d.label for d in detail.devices] == ["curl/8"]
    assert [(lock.scope, lock.device) for lock in detail.locks] == [(LockScope.STRANGERS, STRANGERS)]  # now
    assert admin.user_detail(session, token=token, user_id=anna.user_id).user.referrals == 1
    page = admin.user_referrals(session, token=token, user_id=anna.user_id)
    assert [r.phone for r in page.items] == [BORIS]
    with pytest.raises(NotFound):
        admin.user_detail(session, token=token, user_id=10_000)


def test_sign_out_one_session_or_all(session: Session) -> None:
    token = operator(session)
    first, second = login(session, ANNA), login(session, ANNA)
    other = login(session, BORIS)
    sessions = admin.user_detail(session, token=token, user_id=first.user_id).sessions
    one = next(s.id for s in sessions if s.id != max(s.id for s in sessions))
    assert admin.sign_out(session, token=token, user_id=first.user_id, session_id=one, reason=REASON) == 1
    with pytest.raises(NotAuthenticated):
        auth.authenticate(session, token=first.access_token)
    assert auth.authenticate(session, token=second.access_token) == first.user_id
    with pytest.raises(SessionNotFound):  # ended already; another user's session is not theirs either
        admin.sign_out(session, token=token, user_id=first.user_id, session_id=one, reason=REASON)
    other_session = admin.user_detail(session, token=token, user_id=other.user_id).sessions[0].id
    with pytest.raises(SessionNotFound):
        admin.sign_out(session, token=token, user_id=first.user_id, session_id=other_session, reason=REASON)
    assert admin.sign_out(session, token=token, user_id=first.user_id, reason=REASON) == 1
    with pytest.raises(NotAuthenticated):
        auth.authenticate(session, token=second.access_token)
    assert auth.authenticate(session, token=other.access_token) == other.user_id
    operator_id = user_id(session, OPERATOR)
    assert [(e.user_id, e.phone, e.detail) for e in events(session, Event.ADMIN_SIGNED_OUT)] == [
        (operator_id, ANNA, f"#{first.user_id} session {one}: {REASON}"),
        (operator_id, ANNA, f"#{first.user_id} 1 sessions: {REASON}"),
    ]


def test_revoked_devices_count_as_strangers(session: Session) -> None:
    token = operator(session)
    anna = login(session, ANNA)
    device = admin.user_detail(session, token=token, user_id=anna.user_id).devices[0].id
    assert admin.revoke_devices(session, token=token, user_id=anna.user_id, device_id=device, reason=REASON) == 1
    session.rollback()
    assert session.get(Device, device).revoked_at is not None  # type: ignore[union-attr]
    assert admin.user_detail(session, token=token, user_id=anna.user_id).devices == []
    with pytest.raises(NotFound):
        admin.revoke_devices(session, token=token, user_id=anna.user_id, device_id=device, reason=REASON)
    assert [e.detail for e in events(session, Event.ADMIN_DEVICES_REVOKED)] == [
        f"#{anna.user_id} device {device}: {REASON}"
    ]


def test_ending_a_lock_lets_the_phone_sign_in_at_once_in_this_process(session: Session) -> None:
    token = operator(session)
    anna = login(session, ANNA)
    now = utcnow()
    until = now + timedelta(hours=1)
    session.add(SignInGuard(phone=ANNA, device=STRANGERS, failures=12, locked_until=until, updated_at=now))
    session.commit()
    code = login_codes.issue_code(session, phone=ANNA, client_ip=None)
    with pytest.raises(RateLimited):  # the database refuses, and this process now remembers the lock
        auth.login_with_code(session, phone=ANNA, code=code)
    with pytest.raises(RateLimited):
        refusal_cache.check_lock(ANNA, (STRANGERS,), utcnow())

    assert admin.end_locks(session, token=token, user_id=anna.user_id, reason=REASON) == 1

    refusal_cache.check_lock(ANNA, (STRANGERS,), utcnow())  # forgotten: no refusal
    session.rollback()
    guard = session.get(SignInGuard, (ANNA, STRANGERS))
    assert guard is not None and guard.locked_until is None and guard.failures == 0
    assert auth.login_with_code(session, phone=ANNA, code=code).user_id == anna.user_id
    assert [e.detail for e in events(session, Event.ADMIN_LOCK_ENDED)] == [f"#{anna.user_id} 1 locks: {REASON}"]
    assert admin.end_locks(session, token=token, user_id=anna.user_id, reason=REASON) == 0  # none: not audited
    assert len(events(session, Event.ADMIN_LOCK_ENDED)) == 1


def test_block_ends_sessions_and_refuses_sign_in_until_unblocked(session: Session) -> None:
    token = operator(session)
    anna = login(session, ANNA)
    assert admin.set_blocked(session, token=token, user_id=anna.user_id, blocked=True, reason=REASON) is True
    assert admin.set_blocked(session, token=token, user_id=anna.user_id, blocked=True, reason=REASON) is False
    with pytest.raises(NotAuthenticated):
        auth.authenticate(session, token=anna.access_token)
    code = login_codes.issue_code(session, phone=ANNA, client_ip=None)
    with pytest.raises(AccountBlocked):
        auth.login_with_code(session, phone=ANNA, code=code)
    shift_back(session, LoginCode, 61, "created_at")
    assert admin.find_users(session, token=token, query=ANNA).items[0].blocked
    assert admin.set_blocked(session, token=token, user_id=anna.user_id, blocked=False, reason="verified") is True
    login(session, ANNA)
    assert [e.detail for e in events(session, Event.ADMIN_BLOCKED)] == [f"#{anna.user_id} 1 sessions: {REASON}"]
    assert [e.detail for e in events(session, Event.ADMIN_UNBLOCKED)] == [f"#{anna.user_id}: verified"]


def test_delete_has_the_effects_of_self_deletion(session: Session) -> None:
    token = operator(session)
    vera, anna = login(session, VERA), login(session, ANNA)
    referrals.activate_invite(
        session, user_id=anna.user_id, invite_code=users.get_profile(session, user_id=vera.user_id).invite_code
    )
    admin.delete_user(session, token=token, user_id=anna.user_id, reason=REASON)
    with pytest.raises(NotAuthenticated):
        auth.authenticate(session, token=anna.access_token)
    session.rollback()
    tombstone = session.get(User, anna.user_id)
    assert tombstone is not None and tombstone.deleted_at is not None and tombstone.phone == f"~{anna.user_id}"
    assert tombstone.referrer_id is None
    assert users.get_profile(session, user_id=vera.user_id).referrals_count == 0
    live = select(AuthToken).where(AuthToken.user_id == anna.user_id, col(AuthToken.revoked_at).is_(None))
    assert session.exec(live).all() == []
    # The trail keeps what happened, with the number masked, the operator's row included.
    (deleted,) = events(session, Event.ADMIN_DELETED)
    assert deleted.phone != ANNA and deleted.detail == f"#{anna.user_id}: {REASON}"
    assert len(events(session, Event.ACCOUNT_DELETED)) == 1
    with pytest.raises(NotFound):
        admin.delete_user(session, token=token, user_id=anna.user_id, reason=REASON)


def test_audit_trail_filters_pages_and_exports(session: Session) -> None:
    token = operator(session)
    anna = login(session, ANNA)
    login(session, BORIS)
    admin.set_blocked(session, token=token, user_id=anna.user_id, blocked=True, reason="=HYPERLINK(1)")

    def trail(**wanted: object) -> list[tuple[str, str | None]]:
        page = admin.audit_trail(session, token=token, wanted=AuditFilter(**wanted))  # type: ignore[arg-type]
        return [(e.event, e.phone) for e in page.items]

    assert trail(event="admin_blocked") == [("admin_blocked", ANNA)]
    assert {event for event, _ in trail(phone="8 912 345-67-89")} >= {"login", "code_requested", "admin_blocked"}
    assert all(phone == ANNA for _, phone in trail(phone="8 912 345-67-89"))
    assert trail(since=utcnow() + timedelta(minutes=1)) == []
    assert trail(until=utcnow() - timedelta(days=1)) == []
    assert trail(client="198.51.100.1") == []
    newest_first = admin.audit_trail(session, token=token, wanted=AuditFilter()).items
    assert newest_first[0].event == "admin_blocked"
    own = admin.audit_trail(session, token=token, wanted=AuditFilter(user_id=anna.user_id)).items
    assert own and all(e.user_id == anna.user_id or e.phone == ANNA for e in own)
    assert {"token_revoked", "admin_blocked", "login"} <= {e.event for e in own}

    exported = admin.audit_csv(session, token=token, wanted=AuditFilter(event="admin_blocked"))
    rows = list(csv.reader(io.StringIO(exported)))
    assert rows[0] == list(admin.CSV_COLUMNS) and len(rows) == 2
    assert rows[1][2] == "admin_blocked" and rows[1][6] == f"#{anna.user_id} 1 sessions: =HYPERLINK(1)"
    assert [e.detail for e in events(session, Event.ADMIN_EXPORTED)] == ["1 rows"]
    formula = admin.audit_csv(session, token=token, wanted=AuditFilter(event="admin_exported"))
    assert list(csv.reader(io.StringIO(formula)))[1][6] == "1 rows"


def test_overview_figures_and_daily_series(session: Session) -> None:
    token = operator(session)
    anna, boris = login(session, ANNA), login(session, BORIS)
    referrals.activate_invite(
        session, user_id=boris.user_id, invite_code=users.get_profile(session, user_id=anna.user_id).invite_code
    )
    code = login_codes.issue_code(session, phone=VERA, client_ip=None)
    with pytest.raises(InvalidCode):  # a failed verify
        auth.login_with_code(session, phone=VERA, code="0000" if code != "0000" else "1111")
    session.add(SignInGuard(phone="+79007778899", device=STRANGERS, locked_until=utcnow() + timedelta(hours=1)))
    session.commit()
    shown = admin.figures(session, token=token)
    assert shown == admin.Figures(
        users_total=3,
        users_today=3,
        sign_ins_hour=3,
        failed_verifies_hour=1,
        codes_sent_today=0,  # the codes here were issued without sending an SMS
        phones_locked=1,
        activations_today=1,
        sms_delivered_today=0,
        sms_failed_today=0,
        sms_spend_today={},
    )
    series = admin.daily(session, token=token, days=30)
    assert len(series) == 30 and series[-1].day == utcnow().date().isoformat()
    assert (series[-1].sign_ups, series[-1].activations) == (3, 1)
    assert sum(day.sign_ups for day in series[:-1]) == 0


def test_leaderboard_and_flags(session: Session) -> None:
    token = operator(session)
    anna = login(session, ANNA)
    code = users.get_profile(session, user_id=anna.user_id).invite_code
    invited = []
    for n in range(6):
        result = login(session, f"+7916000{n:04d}")
        referrals.activate_invite(session, user_id=result.user_id, invite_code=code, client_ip="203.0.113.9")
        invited.append(result.user_id)
    since, until = utcnow() - timedelta(hours=1), utcnow() + timedelta(minutes=1)
    board = admin.leaderboard(session, token=token, since=since, until=until, limit=10)
    assert [(i.phone, i.activations) for i in board] == [(ANNA, 6)]
    assert admin.leaderboard(session, token=token, since=until, until=until + timedelta(days=1), limit=10) == []
    found = admin.flags(session, token=token, since=since, until=until)
    assert [(c.client_ip, c.activations, c.user_ids) for c in found.shared_clients] == [
        ("203.0.113.9", 6, sorted(invited))
    ]
    assert sorted(q.user_id for q in found.quick) == sorted(invited)  # activated seconds after signing up
    assert all(q.inviter_id == anna.user_id for q in found.quick)


def test_the_admins_command_adds_lists_and_removes_operators(session: Session, settings: Settings) -> None:
    env = {**os.environ, "DATABASE_URL": settings.database_url}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "referral_app.cli", "admins", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, check=False)

    added = run("add", "8 (999) 000-11-22")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout) | {"id": 0} == {"id": 0, "phone": OPERATOR, "changed": True}
    listed = run("list")
    assert [json.loads(line)["phone"] for line in listed.stdout.splitlines()] == [OPERATOR]
    (granted,) = events(session, Event.ADMIN_GRANTED)
    assert granted.detail is not None and granted.detail.startswith("by cli")
    assert json.loads(run("remove", OPERATOR).stdout)["changed"] is True
    assert run("list").stdout == ""
    unknown = run("remove", VERA)
    assert unknown.returncode == 2 and "not_found" in unknown.stderr
    bad = run("add", "12")
    assert bad.returncode == 2 and "invalid_phone" in bad.stderr


def add_user(session: Session, n: int, created_at: datetime, inviter: int | None = None, after: float = 0) -> int:
    """An account created at `created_at`; with `inviter`, it activated their code `after` seconds later."""
    user = User(
        phone=f"+7917000{n:04d}",
        invite_code=f"T{n}",
        created_at=created_at,
        referrer_id=inviter,
        invite_activated_at=created_at + timedelta(seconds=after) if inviter else None,
    )
    session.add(user)
    session.commit()
    assert user.id is not None
    return user.id


def test_referral_tree_is_depth_first_and_bounded(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    token = operator(session)
    start = utcnow() - timedelta(days=2)
    root = add_user(session, 0, start)
    a = add_user(session, 1, start + timedelta(minutes=1), root, after=60)
    b = add_user(session, 2, start + timedelta(minutes=2), root, after=60)
    a1 = add_user(session, 3, start + timedelta(minutes=3), a, after=60)
    a11 = add_user(session, 4, start + timedelta(minutes=4), a1, after=60)
    add_user(session, 5, start)  # not in the tree

    tree = admin.referral_tree(session, token=token, user_id=root)
    assert [(n.id, n.depth, n.inviter_id, n.referrals) for n in tree.nodes] == [
        (a, 1, root, 1),
        (a1, 2, a, 1),
        (a11, 3, a1, 0),
        (b, 1, root, 0),
    ]
    assert tree.complete
    assert admin.referral_tree(session, token=token, user_id=a11) == admin.ReferralTree(nodes=[], complete=True)

    monkeypatch.setattr(admin, "ADMIN_TREE_DEPTH", 2)
    cut = admin.referral_tree(session, token=token, user_id=root)
    assert [n.id for n in cut.nodes] == [a, a1, b] and not cut.complete  # a1's referral left out
    monkeypatch.setattr(admin, "ADMIN_TREE_DEPTH", 6)
    monkeypatch.setattr(admin, "ADMIN_TREE_NODES_MAX", 3)
    few = admin.referral_tree(session, token=token, user_id=root)
    assert [n.id for n in few.nodes] == [a, a1, b] and not few.complete  # the earliest activations first

    with pytest.raises(NotFound):
        admin.referral_tree(session, token=token, user_id=10_000)
    with pytest.raises(NotFound):
        admin.referral_tree(session, token=login(session, VERA).access_token, user_id=root)


def test_chains_of_new_accounts_are_flagged(session: Session) -> None:
    token = operator(session)
    t = utcnow() - timedelta(hours=6)
    root = add_user(session, 0, t - timedelta(days=30))  # an old account at the top
    # root -> a1 -> a2 -> a3, each new account activating the previous one's code minutes after signing up;
    # a2 also invited a3b the same way: two chains.
    a1 = add_user(session, 1, t, root, after=60)
    a2 = add_user(session, 2, t + timedelta(minutes=5), a1, after=120)
    a3 = add_user(session, 3, t + timedelta(minutes=10), a2, after=600)  # the longest gap that still links
    a3b = add_user(session, 4, t + timedelta(minutes=11), a2, after=30)
    # Two links only: no flag.
    b1 = add_user(session, 5, t, root, after=10)
    add_user(session, 6, t + timedelta(minutes=1), b1, after=10)
    # c1 activated an hour after signing up: the chain below it has two links, no flag.
    c1 = add_user(session, 7, t, root, after=3600)
    c2 = add_user(session, 8, t + timedelta(hours=2), c1, after=5)
    c3 = add_user(session, 9, t + timedelta(hours=3), c2, after=5)
    # A gap of 601 s breaks a chain.
    d1 = add_user(session, 10, t, root, after=5)
    d2 = add_user(session, 11, t + timedelta(minutes=1), d1, after=601)
    add_user(session, 12, t + timedelta(minutes=2), d2, after=5)

    found = admin.flags(session, token=token, since=t - timedelta(hours=1), until=utcnow())
    assert sorted(chain.user_ids for chain in found.chains) == [[root, a1, a2, a3], [root, a1, a2, a3b]]
    assert found.chains[0].phones[0] == "+79170000000"
    assert c3 not in {i for chain in found.chains for i in chain.user_ids}
    # Links activated before the period are not looked at.
    later = admin.flags(session, token=token, since=t + timedelta(minutes=3), until=utcnow())
    assert later.chains == []


def test_locked_phones_with_when_each_lock_ends(session: Session) -> None:
    token = operator(session)
    boris = login(session, BORIS)
    now = utcnow()
    session.add(SignInGuard(phone=BORIS, device=STRANGERS, failures=9, locked_until=now + timedelta(minutes=10)))
    session.add(SignInGuard(phone=BORIS, device=ALL_DEVICES, failures=4, locked_until=now + timedelta(minutes=5)))
    session.add(
        SignInGuard(phone="+79007778899", device="ab12", failures=5, locked_until=now + timedelta(hours=1))
    )
    session.add(SignInGuard(phone=VERA, device=STRANGERS, failures=2, locked_until=now - timedelta(seconds=1)))
    session.commit()

    page = admin.locked_phones(session, token=token)
    assert [(p.phone, p.user_id, p.scope) for p in page.items] == [
        (BORIS, boris.user_id, LockScope.ALL_DEVICES),  # the soonest to end first
        (BORIS, boris.user_id, LockScope.STRANGERS),
        ("+79007778899", None, LockScope.DEVICE),  # no account has the number
    ]
    assert page.items[0].locked_until == now + timedelta(minutes=5) and not page.has_more
    assert admin.locked_phones(session, token=token, page=1).items == []

    assert admin.end_locks(session, token=token, user_id=boris.user_id, reason=REASON) == 2
    assert [p.phone for p in admin.locked_phones(session, token=token).items] == ["+79007778899"]
    # A number no account has: its locks end by the phone, audited with it.
    assert admin.end_locks(session, token=token, phone="+79007778899", reason=REASON) == 1
    assert admin.locked_phones(session, token=token).items == []
    assert [(e.phone, e.detail) for e in events(session, Event.ADMIN_LOCK_ENDED)] == [
        (BORIS, f"#{boris.user_id} 2 locks: {REASON}"),
        ("+79007778899", f"1 locks: {REASON}"),
    ]
    assert admin.end_locks(session, token=token, phone="+79007778899", reason=REASON) == 0
    for bad in (None, "", "79007778899", "+7" + "9" * 20):
        with pytest.raises(NotFound):
            admin.end_locks(session, token=token, phone=bad, reason=REASON)
    with pytest.raises(NotFound):
        admin.locked_phones(session, token=boris.access_token)


def add_sms(
    session: Session,
    n: int,
    at: datetime,
    provider: str,
    status: str,
    cost: str | None = None,
    currency: str | None = None,
) -> None:
    session.add(
        SmsMessage(
            id=f"m{n:04d}",
            phone=f"+7917000{n:04d}",
            provider=provider,
            status=status,
            cost=Decimal(cost) if cost else None,
            currency=currency,
            created_at=at,
            updated_at=at,
        )
    )


def test_sms_page_lists_filters_and_counts_today(session: Session, clock: FakeClock) -> None:
    token = operator(session)
    now = utcnow()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(hours=1)
    add_sms(session, 1, today + timedelta(seconds=1), "smsru", "delivered", "2.5", "RUB")
    add_sms(session, 2, today + timedelta(seconds=2), "smsru", "undelivered", "2.5", "RUB")
    add_sms(session, 3, today + timedelta(seconds=3), "smsru", "sent", "2.5", "RUB")
    add_sms(session, 4, today + timedelta(seconds=4), "twilio", "delivered", "0.05", "USD")
    add_sms(session, 5, today + timedelta(seconds=5), "", "failed")  # no provider took it
    add_sms(session, 6, today + timedelta(seconds=6), "twilio", "failed")
    add_sms(session, 7, today + timedelta(seconds=7), "", "queued")
    for n in range(30):  # yesterday's: not today's figures, but listed and charted
        add_sms(session, 100 + n, yesterday - timedelta(seconds=n), "smsru", "delivered", "3", "RUB")
    session.commit()

    day = admin.sms_today(session, token=token)
    assert (day.messages, day.sent, day.delivered, day.failed) == (7, 5, 2, 3)
    assert day.spend == {"RUB": Decimal("7.5"), "USD": Decimal("0.05")}
    assert day.delivery_rate == 2 / 5
    assert day.providers == [
        admin.ProviderDay("", sent=0, delivered=0, failed=1),
        admin.ProviderDay("smsru", sent=3, delivered=1, failed=1),
        admin.ProviderDay("twilio", sent=2, delivered=1, failed=1),
    ]
    shown = admin.figures(session, token=token)
    assert (shown.sms_delivered_today, shown.sms_failed_today, shown.sms_spend_today) == (2, 3, day.spend)
    series = admin.daily(session, token=token, days=30)
    assert (series[-1].sms_sent, series[-1].sms_delivered) == (5, 2)
    assert (series[-2].sms_sent, series[-2].sms_delivered) == (30, 30)

    everything = admin.sms_messages(session, token=token, wanted=SmsFilter())
    assert len(everything.items) == CONSOLE_PAGE_SIZE and everything.has_more
    assert [m.id for m in everything.items[:3]] == ["m0007", "m0006", "m0005"]  # the newest first
    assert len(admin.sms_messages(session, token=token, wanted=SmsFilter(), page=1).items) == 37 - 25
    failed = admin.sms_messages(session, token=token, wanted=SmsFilter(status="failed"))
    assert [(m.id, m.provider) for m in failed.items] == [("m0006", "twilio"), ("m0005", "")]
    twilio = admin.sms_messages(session, token=token, wanted=SmsFilter(provider="twilio", status="delivered"))
    assert [(m.id, m.cost, m.currency) for m in twilio.items] == [("m0004", Decimal("0.05"), "USD")]
    assert admin.sms_messages(session, token=token, wanted=SmsFilter(provider="nobody")).items == []

    clock.advance(24 * 3600)  # tomorrow: today's figures start again
    assert admin.sms_today(session, token=token) == admin.SmsDay(0, 0, 0, 0, {}, [])
    assert admin.sms_today(session, token=token).delivery_rate is None
    outsider = login(session, VERA).access_token
    for refused in (
        lambda: admin.sms_today(session, token=outsider),
        lambda: admin.sms_messages(session, token=outsider, wanted=SmsFilter()),
        lambda: admin.sms_messages(session, token=None, wanted=SmsFilter()),
    ):
        with pytest.raises(NotFound):
            refused()

"""Deleting an account (confirmed by a code) and exporting one's data; test numbers with fixed codes."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from referral_app.core.config import Settings
from referral_app.core.db.engine import SQLITE_BEGIN_OPTION
from referral_app.limits import EXPORTS_PER_HOUR
from referral_app.models import AuditEvent, AuthToken, LoginCode, User
from referral_app.services import account, auth, login_codes, referrals, sessions, users
from referral_app.services.counters import window_start
from referral_app.services.errors import (
    AccountBlocked,
    InvalidCode,
    InviteCodeNotFound,
    NotAuthenticated,
    RateLimited,
    TooManyAttempts,
)
from referral_app.services.sms import load_sender
from tests.helpers import PRODUCTION_SECRET_KEY, FakeClock, configure, shift_back

ANNA, BORIS, VERA = "+79123456789", "+79001112233", "+79005556677"


def login(session: Session, phone: str) -> auth.LoginResult:
    code = login_codes.issue_code(session, phone=phone, client_ip=None)
    result = auth.login_with_code(session, phone=phone, code=code)
    shift_back(session, LoginCode, 61, "created_at")
    return result


def fresh_code(session: Session, phone: str) -> str:
    code = login_codes.issue_code(session, phone=phone, client_ip=None)
    shift_back(session, LoginCode, 61, "created_at")
    return code


def test_deleting_an_account_keeps_everyone_elses_story(session: Session) -> None:
    """Anna invited Boris; Anna was invited by Vera. Anna deletes her account."""
    vera, anna, boris = login(session, VERA), login(session, ANNA), login(session, BORIS)
    anna_code = users.get_profile(session, user_id=anna.user_id).invite_code
    vera_code = users.get_profile(session, user_id=vera.user_id).invite_code
    referrals.activate_invite(session, user_id=boris.user_id, invite_code=anna_code)
    referrals.activate_invite(session, user_id=anna.user_id, invite_code=vera_code)
    second_session = login(session, ANNA)
    assert users.get_profile(session, user_id=vera.user_id).referrals_count == 1

    account.delete_account(
        session, token=anna.access_token, code=fresh_code(session, ANNA), client_ip="203.0.113.7"
    )

    for token in (anna.access_token, second_session.access_token):  # every session ended
        with pytest.raises(NotAuthenticated):
            auth.authenticate(session, token=token)
    with pytest.raises(NotAuthenticated):
        users.get_profile(session, user_id=anna.user_id)
    boris_profile = users.get_profile(session, user_id=boris.user_id)  # keeps the activation
    assert (boris_profile.activated_invite_code, boris_profile.invited_by, boris_profile.inviter_deleted) == (
        anna_code,
        None,
        True,
    )
    vera_profile = users.get_profile(session, user_id=vera.user_id)  # Anna left Vera's list and count
    assert (vera_profile.referrals_count, vera_profile.referrals) == (0, [])
    assert users.list_referrals(session, user_id=vera.user_id).total == 0
    # The trail keeps every event, none with Anna's number in clear.
    events = session.exec(select(AuditEvent).where(AuditEvent.user_id == anna.user_id)).all()
    assert {e.event for e in events} >= {"login", "token_revoked", "account_deleted"}
    assert session.exec(select(AuditEvent).where(AuditEvent.phone == ANNA)).all() == []
    assert session.exec(select(AuditEvent).where(AuditEvent.phone == "+79*****6789")).all()
    tombstone = session.get(User, anna.user_id)
    assert tombstone is not None and tombstone.deleted_at is not None and tombstone.phone != ANNA

    # The number registers again as a new user, with a new invite code; the old code stays retired.
    again = login(session, ANNA)
    assert again.is_new_user and again.user_id != anna.user_id
    assert users.get_profile(session, user_id=again.user_id).invite_code != anna_code
    with pytest.raises(InviteCodeNotFound):
        referrals.activate_invite(session, user_id=again.user_id, invite_code=anna_code)
    session.rollback()
    taken = session.exec(select(sa.func.count()).select_from(User).where(User.invite_code == anna_code)).one()
    assert taken == 1  # never issued again: the tombstone holds it


def test_deleting_needs_the_latest_code_of_my_phone(session: Session, settings: Settings) -> None:
    anna, boris = login(session, ANNA), login(session, BORIS)
    with pytest.raises(InvalidCode) as no_code:  # none requested since the sign-in's was used
        account.delete_account(session, token=anna.access_token, code="1234")
    assert no_code.value.params == {"attempts_left": 0}
    boris_code = fresh_code(session, BORIS)  # somebody else's code is no confirmation
    with pytest.raises(InvalidCode):
        account.delete_account(session, token=anna.access_token, code=boris_code)
    code = fresh_code(session, ANNA)
    wrong = "0000" if code != "0000" else "1111"
    with pytest.raises(InvalidCode) as refused:
        account.delete_account(session, token=anna.access_token, code=wrong)
    assert refused.value.params["attempts_left"] == settings.code_max_attempts - 1
    for _ in range(settings.code_max_attempts - 2):
        with pytest.raises(InvalidCode):
            account.delete_account(session, token=anna.access_token, code=wrong)
    with pytest.raises(TooManyAttempts):  # the code burns like a sign-in's
        account.delete_account(session, token=anna.access_token, code=wrong)
    with pytest.raises(TooManyAttempts):
        account.delete_account(session, token=anna.access_token, code=code)
    assert auth.authenticate(session, token=anna.access_token) == anna.user_id  # nothing was deleted
    assert users.get_profile(session, user_id=anna.user_id).phone == ANNA
    assert session.exec(select(AuditEvent).where(AuditEvent.event == "account_deleted")).all() == []
    assert auth.authenticate(session, token=boris.access_token)


def test_deleting_a_locked_phone_is_refused_unevaluated(session: Session, settings: Settings) -> None:
    anna = login(session, ANNA)
    configure(settings, phone_max_failures=2, phone_max_failures_per_30_days=40)
    code = fresh_code(session, ANNA)
    wrong = "0000" if code != "0000" else "1111"
    with pytest.raises(InvalidCode):
        account.delete_account(session, token=anna.access_token, code=wrong)
    with pytest.raises(RateLimited):
        account.delete_account(session, token=anna.access_token, code=wrong)
    with pytest.raises(RateLimited):  # even the right code, while locked
        account.delete_account(session, token=anna.access_token, code=code)
    assert auth.authenticate(session, token=anna.access_token)


def test_a_deleted_account_cannot_be_deleted_or_exported_again(session: Session) -> None:
    anna = login(session, ANNA)
    account.delete_account(session, token=anna.access_token, code=fresh_code(session, ANNA))
    with pytest.raises(NotAuthenticated):
        account.delete_account(session, token=anna.access_token, code="1234")
    with pytest.raises(NotAuthenticated):
        account.export_account(session, user_id=anna.user_id)
    with pytest.raises(NotAuthenticated):
        account.export_account(session, user_id=10**9)


def test_export_has_everything_about_me_and_nothing_else(session: Session) -> None:
    vera, anna, boris = login(session, VERA), login(session, ANNA), login(session, BORIS)
    profile = users.get_profile(session, user_id=anna.user_id)
    users.update_profile(session, user_id=anna.user_id, name="Anna", email="anna@example.com")
    referrals.activate_invite(session, user_id=boris.user_id, invite_code=profile.invite_code)
    vera_code = users.get_profile(session, user_id=vera.user_id).invite_code
    referrals.activate_invite(session, user_id=anna.user_id, invite_code=vera_code)
    sessions.logout(session, token=anna.access_token)
    data = account.export_account(session, user_id=anna.user_id, client_ip="203.0.113.7")
    assert (data.phone, data.name, data.email, data.invite_code) == (
        ANNA,
        "Anna",
        "anna@example.com",
        profile.invite_code,
    )
    assert data.activated is not None and (data.activated.invite_code, data.activated.phone) == (vera_code, VERA)
    assert [(r.invite_code, r.phone) for r in data.referrals] == [(profile.invite_code, BORIS)]
    assert len(data.sessions) == 1 and data.sessions[0].revoked_at is not None
    kinds = {e.event for e in data.audit_events}
    assert {"code_requested", "new_user", "login", "invite_activated", "token_revoked"} <= kinds
    assert all(e.phone in (ANNA, None) for e in data.audit_events)  # nobody else's events
    as_dict = data.as_dict()
    assert set(as_dict) >= {"phone", "referrals", "sessions", "audit_events"}
    assert (
        session.exec(select(AuditEvent).where(AuditEvent.event == "account_exported")).one().user_id
        == anna.user_id
    )
    # Once the inviter is gone, the export says so without their number.
    account.delete_account(session, token=vera.access_token, code=fresh_code(session, VERA))
    after = account.export_account(session, user_id=anna.user_id)
    assert after.activated is not None and after.activated.phone is None


def test_export_masks_every_address_and_counts_its_own_rows(session: Session) -> None:
    """Strangers who asked for codes to my number show as their network, as my own sessions do; my earlier
    exports are a count, not rows that grow the export each time."""
    anna = login(session, ANNA)
    shift_back(session, LoginCode, 3600, "created_at")
    login_codes.issue_code(session, phone=ANNA, client_ip="198.51.100.23")  # a stranger, for my number
    login_codes.issue_code(session, phone=BORIS, client_ip="198.51.100.24")  # not about me
    first = account.export_account(session, user_id=anna.user_id, client_ip="203.0.113.7")
    second = account.export_account(session, user_id=anna.user_id, client_ip="203.0.113.7")
    third = account.export_account(session, user_id=anna.user_id, client_ip="203.0.113.8")
    stranger = [e for e in first.audit_events if e.event == "code_requested" and e.client_ip is not None]
    assert [e.client_ip for e in stranger] == ["198.51.100.*"]
    for data in (first, second, third):
        assert "198.51.100.23" not in repr(data.as_dict()) and "198.51.100.24" not in repr(data.as_dict())
        assert "account_exported" not in {e.event for e in data.audit_events}
        assert len(data.audit_events) == len(first.audit_events)
    assert (first.exports, second.exports, third.exports) == (0, 1, 2)
    exported = session.exec(select(AuditEvent).where(AuditEvent.event == "account_exported")).all()
    assert [(e.user_id, e.client_ip) for e in exported] == [(anna.user_id, "203.0.113.7")] * 2 + [
        (anna.user_id, "203.0.113.8")
    ]


def test_exports_are_limited_per_user_and_hour(session: Session, clock: FakeClock) -> None:
    anna, boris = login(session, ANNA), login(session, BORIS)
    clock.now = window_start(clock.now) + timedelta(hours=1)  # the start of a clock hour: the limit's window
    for _ in range(EXPORTS_PER_HOUR):
        account.export_account(session, user_id=anna.user_id)
    clock.advance(60)
    with pytest.raises(RateLimited) as refused:
        account.export_account(session, user_id=anna.user_id)
    assert refused.value.retry_after == 3600 - 60 and refused.value.reason == "export_limit"
    exported = select(func.count()).select_from(AuditEvent).where(AuditEvent.event == "account_exported")
    assert session.exec(exported).one() == EXPORTS_PER_HOUR  # the refused one handed out nothing
    account.export_account(session, user_id=boris.user_id)  # another user's own budget
    clock.advance(3600 - 60)
    assert account.export_account(session, user_id=anna.user_id).exports == EXPORTS_PER_HOUR


def export_in_a_session_of_its_own(engine: sa.Engine, user_id: int) -> account.AccountExport:
    with Session(engine) as own:
        return account.export_account(own, user_id=user_id)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_export_reads_outside_a_write_transaction_and_audits_after(
    session: Session, engine: sa.Engine, settings: Settings
) -> None:
    """With SQLite's one write lock held by another connection, the export reads everything (a read waits for
    no writer) and only then waits for the lock, for its short write: counting and auditing the export."""
    anna = login(session, ANNA)
    statements: list[str] = []
    read_everything = threading.Event()

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement.split()[0] + (" IMMEDIATE" if "IMMEDIATE" in statement else ""))
        if "FROM audit_events" in statement and "count(" in statement:
            read_everything.set()  # the export's last read

    sa.event.listen(engine, "before_cursor_execute", seen)
    holder = sqlite3.connect(engine.url.database or "", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with ThreadPoolExecutor(1) as pool:
            exporting = pool.submit(export_in_a_session_of_its_own, engine, anna.user_id)
            assert read_everything.wait(timeout=30), statements  # a guard against a hang, not a measurement
            assert not exporting.done()  # waiting for the write lock
            holder.execute("COMMIT")
            assert exporting.result(timeout=60).phone == ANNA
    finally:
        holder.close()
        sa.event.remove(engine, "before_cursor_execute", seen)
    write = statements.index("BEGIN IMMEDIATE")
    assert set(statements[:write]) <= {"BEGIN", "SELECT", "COMMIT", "ROLLBACK"}
    assert set(statements[write + 1 :]) == {"INSERT"}  # the counter and the audit row


def test_concurrent_deletions_delete_once(session: Session, engine: sa.Engine) -> None:
    anna = login(session, ANNA)
    code = fresh_code(session, ANNA)

    def attempt() -> str:
        with Session(engine) as own:
            try:
                account.delete_account(own, token=anna.access_token, code=code)
            except (NotAuthenticated, InvalidCode) as refused:
                return refused.code
            return "deleted"

    async def both() -> list[str]:
        return list(await asyncio.gather(asyncio.to_thread(attempt), asyncio.to_thread(attempt)))

    outcomes = asyncio.run(both())
    assert sorted(outcomes) == ["deleted", "not_authenticated"], outcomes  # the second found it gone
    assert session.exec(select(AuditEvent).where(AuditEvent.event == "account_deleted")).all().__len__() == 1


# --- test numbers -----------------------------------------------------------------------------------------

TEST_NUMBER = "+79990000001"


SENT_TO: list[str] = []  # the phones CountingSender sent an SMS to


class CountingSender:
    async def send(self, phone: str, text: str) -> None:
        SENT_TO.append(phone)


def test_test_numbers_parse_and_reject_mistakes() -> None:
    parsed = Settings(_env_file=None, test_phone_numbers="+7 999 000-00-01:1234, +79990000002:0000")
    assert parsed.test_phone_numbers == {TEST_NUMBER: "1234", "+79990000002": "0000"}
    assert Settings(_env_file=None, test_phone_numbers="").test_phone_numbers == {}
    for bad in ("+79990000001", "+7999:1234", "12345:1234", "+79990000001:12", "+79990000001:abcd"):
        with pytest.raises(ValueError, match=r"TEST_PHONE_NUMBERS|test number"):
            Settings(_env_file=None, test_phone_numbers=bad)


def test_a_test_number_has_its_fixed_code_no_sms_and_every_limit(session: Session, settings: Settings) -> None:
    SENT_TO.clear()
    s = configure(
        settings,
        demo_mode=False,
        secret_key=PRODUCTION_SECRET_KEY,
        test_phone_numbers={TEST_NUMBER: "4321"},
        sms_sender=f"{__name__}:CountingSender",
        code_max_attempts=2,
    )
    load_sender.cache_clear()
    issued = asyncio.run(
        login_codes.send_login_code(phone=TEST_NUMBER, region=None, client_ip="203.0.113.7", settings=s)
    )
    assert issued.debug_code is None  # demo mode is off: the code is never shown
    asyncio.run(login_codes.send_login_code(phone=BORIS, region=None, client_ip="203.0.113.7", settings=s))
    assert SENT_TO == [BORIS]  # only the real number got an SMS
    with pytest.raises(RateLimited):  # the resend cooldown applies
        asyncio.run(login_codes.send_login_code(phone=TEST_NUMBER, region=None, client_ip=None, settings=s))
    with pytest.raises(InvalidCode):
        auth.login_with_code(session, phone=TEST_NUMBER, code="1111", settings=s)
    with pytest.raises(TooManyAttempts):  # attempt limits apply: the fixed code burns too
        auth.login_with_code(session, phone=TEST_NUMBER, code="1112", settings=s)
    with pytest.raises(TooManyAttempts):
        auth.login_with_code(session, phone=TEST_NUMBER, code="4321", settings=s)
    shift_back(session, LoginCode, 61, "created_at")
    asyncio.run(login_codes.send_login_code(phone=TEST_NUMBER, region=None, client_ip=None, settings=s))
    result = auth.login_with_code(session, phone=TEST_NUMBER, code="4321", settings=s)
    assert result.is_new_user
    marked = session.exec(
        select(AuditEvent.event, AuditEvent.detail)
        .where(AuditEvent.phone == TEST_NUMBER)
        .order_by(col(AuditEvent.id))
    ).all()
    assert {event for event, detail in marked if detail == "test_number"} == {
        "code_requested",
        "code_sent",
        "login",
    }
    assert all(
        detail != "test_number"
        for event, detail in session.exec(
            select(AuditEvent.event, AuditEvent.detail).where(AuditEvent.phone == BORIS)
        ).all()
    )


# --- writes by a deleted account, and deletion on the owner's device budget --------------------------------


def test_a_deleted_account_writes_nothing_with_its_old_user_id(session: Session) -> None:
    """A request that read the user id before the deletion committed (a second tab, a script) must not write
    the account back: no referral, no name in the tombstone."""
    anna, boris = login(session, ANNA), login(session, BORIS)
    boris_code = users.get_profile(session, user_id=boris.user_id).invite_code
    account.delete_account(session, token=anna.access_token, code=fresh_code(session, ANNA))
    with pytest.raises(NotAuthenticated):
        referrals.activate_invite(session, user_id=anna.user_id, invite_code=boris_code)
    with pytest.raises(NotAuthenticated):
        users.update_profile(session, user_id=anna.user_id, name="Anna", email="anna@example.com")
    session.rollback()
    tombstone = session.get(User, anna.user_id)
    assert tombstone is not None and (tombstone.name, tombstone.email, tombstone.referrer_id) == (None, None, None)
    assert users.get_profile(session, user_id=boris.user_id).referrals_count == 0


def test_a_blocked_account_cannot_sign_in_or_write(session: Session) -> None:
    anna, boris = login(session, ANNA), login(session, BORIS)
    session.execute(sa.update(User).where(col(User.id) == anna.user_id).values(blocked_at=sa.func.now()))
    session.commit()
    with pytest.raises(AccountBlocked):
        auth.login_with_code(session, phone=ANNA, code=fresh_code(session, ANNA))
    boris_code = users.get_profile(session, user_id=boris.user_id).invite_code
    with pytest.raises(AccountBlocked):
        referrals.activate_invite(session, user_id=anna.user_id, invite_code=boris_code)
    with pytest.raises(AccountBlocked):
        users.update_profile(session, user_id=anna.user_id, name="Anna")
    assert users.get_profile(session, user_id=boris.user_id).referrals_count == 0


def test_a_write_waits_for_a_deletion_under_way_and_then_refuses(
    session: Session, engine: sa.Engine, backend: str
) -> None:
    """Event order, not timing: the deletion's transaction has tombstoned the row and not committed; the
    activation started meanwhile must wait for it (PostgreSQL: the row lock; SQLite: the one writer), and once
    the deletion commits it refuses instead of writing into the tombstone."""
    anna, boris = login(session, ANNA), login(session, BORIS)
    boris_code = users.get_profile(session, user_id=boris.user_id).invite_code
    deleting = Session(engine)
    with deleting.begin():
        if backend == "sqlite":
            deleting.connection(execution_options={SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        deleting.execute(sa.update(User).where(col(User.id) == anna.user_id).values(deleted_at=sa.func.now()))
        outcome: list[str] = []

        def activate() -> None:
            with Session(engine) as own:
                try:
                    referrals.activate_invite(own, user_id=anna.user_id, invite_code=boris_code)
                    outcome.append("activated")
                except NotAuthenticated:
                    outcome.append("refused")

        worker = threading.Thread(target=activate)
        worker.start()
        worker.join(timeout=1.0)
        assert worker.is_alive() and outcome == []  # it waits for the deletion: nothing decided yet
    worker.join()
    deleting.close()
    assert outcome == ["refused"]
    assert users.get_profile(session, user_id=boris.user_id).referrals_count == 0


def test_a_strangers_lock_does_not_stop_the_signed_in_owner_deleting(session: Session, settings: Settings) -> None:
    configure(settings, phone_max_failures=2, phone_max_failures_per_30_days=40)
    anna = login(session, ANNA)
    code = fresh_code(session, ANNA)
    for _ in range(2):  # a stranger's guesses lock the phone for strangers
        with pytest.raises((InvalidCode, RateLimited)):
            auth.login_with_code(session, phone=ANNA, code="0000" if code != "0000" else "1111")
    with pytest.raises(RateLimited):
        auth.login_with_code(session, phone=ANNA, code=code)
    account.delete_account(session, token=anna.access_token, code=code)  # the owner's session's device
    with pytest.raises(NotAuthenticated):
        auth.authenticate(session, token=anna.access_token)


def test_a_device_token_in_the_body_counts_when_the_session_has_no_device(
    session: Session, settings: Settings
) -> None:
    configure(settings, phone_max_failures=2, phone_max_failures_per_30_days=40)
    anna = login(session, ANNA)
    session.execute(sa.update(AuthToken).values(device_id=None))  # a session from before devices were rows
    session.commit()
    code = fresh_code(session, ANNA)
    for _ in range(2):
        with pytest.raises((InvalidCode, RateLimited)):
            auth.login_with_code(session, phone=ANNA, code="0000" if code != "0000" else "1111")
    with pytest.raises(RateLimited):  # without a device: the strangers' lock applies
        account.delete_account(session, token=anna.access_token, code=code)
    account.delete_account(session, token=anna.access_token, code=code, device_token=anna.device_token)

"""The audit trail: the security events each flow writes, with phone/user and IP — never codes or tokens."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from referral_app.core.clock import utcnow
from referral_app.core.config import Settings
from referral_app.core.db import transaction
from referral_app.lifespan import apply_migrations
from referral_app.limits import (
    AUDIT_RETENTION_MIN_DAYS,
    REFUSAL_AUDIT_INTERVAL_SECONDS,
    REFUSAL_SOURCES_PER_KIND,
    REFUSALS_PER_AUDIT_ROW,
)
from referral_app.models import AuditEvent, AuditPurge, LoginCode
from referral_app.services import audit, auth, login_codes, referrals, sessions, users
from referral_app.services.errors import (
    InvalidCode,
    RateLimited,
    ServiceError,
    ServiceUnavailable,
    TooManyAttempts,
)
from referral_app.services.phones import mask_phone
from tests.helpers import FakeClock, configure, shift_back

PHONE = "+79123456789"
IP = "198.51.100.7"


def events(session: Session) -> list[tuple[str, str | None, str | None]]:
    session.rollback()
    rows = session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all()
    return [(row.event, row.phone, row.detail) for row in rows]


def test_login_flow_events(session: Session) -> None:
    code = login_codes.issue_code(session, phone=PHONE, client_ip=IP)
    result = auth.login_with_code(session, phone=PHONE, code=code, client_ip=IP)
    sessions.logout(session, token=result.access_token, client_ip=IP)
    assert events(session) == [
        ("code_requested", PHONE, None),
        ("new_user", PHONE, None),
        ("login", PHONE, None),
        ("token_revoked", None, "logout_current:1"),
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


async def test_concurrent_events_are_group_committed(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """record_grouped: every caller returns once its own row is committed; rows queued together share one
    write transaction, and each keeps the moment it was recorded."""
    batches: list[int] = []
    insert_all = audit._insert_all

    def counted(
        session: Session, rows: list[dict[str, object]], companions: list[audit.Companion] | None = None
    ) -> None:
        batches.append(len(rows))
        insert_all(session, rows, companions)

    monkeypatch.setattr(audit, "_insert_all", counted)
    before = utcnow()
    await asyncio.gather(
        *(audit.record_grouped(audit.Event.CODE_SENT, phone=f"+7912000{n:04d}", client_ip=IP) for n in range(50))
    )
    rows = session.exec(select(AuditEvent)).all()
    assert sorted(row.phone or "" for row in rows) == [f"+7912000{n:04d}" for n in range(50)]
    assert {(row.event, row.client_ip) for row in rows} == {("code_sent", IP)}
    assert all(before <= row.created_at <= utcnow() for row in rows)
    assert sum(batches) == 50 and len(batches) < 50


async def test_a_failed_group_commit_fails_every_caller_in_it(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(session: Session, rows: list[dict[str, object]], *companions: object) -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("database is gone"), connection_invalidated=True)

    monkeypatch.setattr(audit, "_insert_all", broken)
    results = await asyncio.gather(
        *(audit.record_grouped(audit.Event.CODE_SENT, phone=PHONE, client_ip=IP) for _ in range(5)),
        return_exceptions=True,
    )
    assert [type(r) for r in results] == [ServiceUnavailable] * 5
    assert session.exec(select(AuditEvent)).all() == []
    monkeypatch.undo()
    await audit.record_grouped(audit.Event.CODE_SENT, phone=PHONE, client_ip=IP)  # the next batch is written
    session.rollback()
    assert len(session.exec(select(AuditEvent)).all()) == 1


# --- refusals: one write per kind per interval, rows carrying each source's count ---------------------------

LOCKED = audit.Event.VERIFY_REFUSED
COOLDOWN = audit.Event.CODE_REFUSED


def refuse(
    session: Session, times: int, event: audit.Event = LOCKED, detail: str = "phone_locked", phone: str = PHONE
) -> None:
    """`times` refusals of one kind for `phone`, from IP."""
    for _ in range(times):
        audit.record_refusal(session, event, phone=phone, client_ip=IP, detail=detail)


def refusal_rows(session: Session) -> list[tuple[str, str | None, str | None]]:
    session.rollback()
    rows = session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all()
    return [(row.event, row.detail, row.client_ip) for row in rows]


def test_a_flood_within_one_interval_writes_only_its_first_row(session: Session, clock: FakeClock) -> None:
    refuse(session, 200)
    assert refusal_rows(session) == [("verify_refused", "phone_locked", IP)]
    clock.advance(REFUSAL_AUDIT_INTERVAL_SECONDS - 0.001)
    refuse(session, 1)
    assert len(refusal_rows(session)) == 1
    # One interval after the first row, the next refusal writes one row for all since: 199 + 1 + this one.
    clock.advance(0.001)
    refuse(session, 1)
    assert refusal_rows(session) == [
        ("verify_refused", "phone_locked", IP),
        ("verify_refused", "phone_locked x201", IP),
    ]


def test_the_row_after_an_interval_counts_exactly_the_refusals_since(session: Session, clock: FakeClock) -> None:
    refuse(session, 1)
    refuse(session, 200)
    clock.advance(REFUSAL_AUDIT_INTERVAL_SECONDS)
    assert len(refusal_rows(session)) == 1  # counting writes nothing: the next refusal does
    refuse(session, 1)
    assert refusal_rows(session)[1:] == [("verify_refused", "phone_locked x201", IP)]
    # Then the count starts again, and the interval runs from that row.
    refuse(session, 199)
    clock.advance(REFUSAL_AUDIT_INTERVAL_SECONDS)
    refuse(session, 1)
    assert [detail for _, detail, _ in refusal_rows(session)] == [
        "phone_locked",
        "phone_locked x201",
        "phone_locked x200",
    ]


def test_fewer_than_ten_refusals_after_an_interval_write_nothing(session: Session, clock: FakeClock) -> None:
    refuse(session, 1)
    clock.advance(REFUSAL_AUDIT_INTERVAL_SECONDS)
    refuse(session, REFUSALS_PER_AUDIT_ROW - 1)
    assert [detail for _, detail, _ in refusal_rows(session)] == ["phone_locked"]
    clock.advance(3600)
    refuse(session, 1)  # the tenth since the first row
    assert [detail for _, detail, _ in refusal_rows(session)] == ["phone_locked", "phone_locked x10"]


def test_two_kinds_are_counted_apart(session: Session, clock: FakeClock) -> None:
    for _ in range(15):
        refuse(session, 1)
        refuse(session, 1, COOLDOWN, "cooldown")
        refuse(session, 1, LOCKED, "verify_ip_limit")  # the same event, another detail: another kind
    clock.advance(REFUSAL_AUDIT_INTERVAL_SECONDS)
    refuse(session, 1, COOLDOWN, "cooldown")
    assert [(event, detail) for event, detail, _ in refusal_rows(session)] == [
        ("verify_refused", "phone_locked"),
        ("code_refused", "cooldown"),
        ("verify_refused", "verify_ip_limit"),
        ("code_refused", "cooldown x15"),
    ]
    assert audit.flush_refusals(session) == 2
    assert sorted(detail or "" for _, detail, _ in refusal_rows(session)[4:]) == [
        "phone_locked x14",
        "verify_ip_limit x14",
    ]


def sourced_rows(session: Session) -> list[tuple[str | None, str | None, str | None]]:
    """(phone, address, detail) of every row after the kind's first."""
    session.rollback()
    rows = session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all()
    return [(row.phone, row.client_ip, row.detail) for row in rows[1:]]


def phone_of(n: int) -> str:
    return f"+7912{n:07d}"


def test_each_phone_and_address_gets_its_own_count(session: Session, clock: FakeClock) -> None:
    """Refusals of one kind for several phones: each row names one phone and address and counts only theirs,
    whichever refusal made the rows due."""
    refuse(session, 1)
    for _ in range(6):
        refuse(session, 2, phone=phone_of(1))
        audit.record_refusal(session, LOCKED, phone=phone_of(2), client_ip="192.0.2.9", detail="phone_locked")
    clock.advance(REFUSAL_AUDIT_INTERVAL_SECONDS)
    audit.record_refusal(session, LOCKED, phone=phone_of(3), client_ip="192.0.2.3", detail="phone_locked")
    assert sourced_rows(session) == [
        (phone_of(1), IP, "phone_locked x12"),
        (phone_of(2), "192.0.2.9", "phone_locked x6"),
        (phone_of(3), "192.0.2.3", "phone_locked x1"),  # the one that completed the batch: its own count only
    ]


def test_a_flood_of_distinct_phones_degrades_to_a_row_that_says_so(session: Session, clock: FakeClock) -> None:
    """Beyond REFUSAL_SOURCES_PER_KIND sources, one row counts the rest and names no phone or address."""
    refuse(session, 1)
    for n in range(2000):
        phone = phone_of(n % 1950)  # 1,950 phones, 50 of them refused twice (from another address)
        audit.record_refusal(
            session, LOCKED, phone=phone, client_ip=f"10.1.{n // 250}.{n % 250}", detail="phone_locked"
        )
    clock.advance(REFUSAL_AUDIT_INTERVAL_SECONDS)
    audit.record_refusal(session, LOCKED, phone=phone_of(0), client_ip="10.1.0.0", detail="phone_locked")
    rows = sourced_rows(session)
    one_by_one = [(phone_of(n), f"10.1.0.{n}", "phone_locked x1") for n in range(REFUSAL_SOURCES_PER_KIND)]
    one_by_one[0] = (phone_of(0), "10.1.0.0", "phone_locked x2")  # the first source, refused again at the end
    assert rows[:-1] == one_by_one
    spread = 2000 - REFUSAL_SOURCES_PER_KIND
    assert rows[-1] == (None, None, f"phone_locked x{spread} (1,950 phones, {spread:,} addresses)")


def test_a_flood_against_one_phone_from_many_addresses_names_the_phone(session: Session, clock: FakeClock) -> None:
    refuse(session, 1)
    for n in range(300):
        audit.record_refusal(
            session, LOCKED, phone=PHONE, client_ip=f"10.2.{n // 250}.{n % 250}", detail="phone_locked"
        )
    clock.advance(REFUSAL_AUDIT_INTERVAL_SECONDS)
    assert audit.flush_refusals(session) == REFUSAL_SOURCES_PER_KIND + 1
    assert sourced_rows(session)[-1] == (
        PHONE,
        None,
        f"phone_locked x{300 - REFUSAL_SOURCES_PER_KIND} (290 addresses)",
    )


def test_no_row_claims_a_refusal_a_phone_did_not_have(session: Session, clock: FakeClock) -> None:
    """Whatever the mix, the counts of the rows naming a phone add up to at most its refusals (to exactly
    them, with the spread row's, which names no phone when several share it)."""
    refused: dict[str, int] = {}
    for n in range(3000):
        phone = phone_of((n * 7919) % 37)
        refused[phone] = refused.get(phone, 0) + 1
        audit.record_refusal(session, LOCKED, phone=phone, client_ip=f"10.3.0.{n % 3}", detail="phone_locked")
        if n % 400 == 0:
            clock.advance(REFUSAL_AUDIT_INTERVAL_SECONDS)
    audit.flush_refusals(session)
    session.rollback()
    claimed: dict[str, int] = {}
    total = 0
    for row in session.exec(select(AuditEvent)).all():
        count = int((row.detail or "").split(" x")[1].split(" ")[0]) if " x" in (row.detail or "") else 1
        total += count
        if row.phone is not None:
            claimed[row.phone] = claimed.get(row.phone, 0) + count
    assert total == 3000
    assert all(claimed[phone] <= refused[phone] for phone in claimed), (claimed, refused)


def test_the_shutdown_flush_writes_exactly_the_pending_counts(session: Session, clock: FakeClock) -> None:
    assert audit.flush_refusals(session) == 0  # nothing seen, nothing written
    refuse(session, 8)
    refuse(session, 3, COOLDOWN, "cooldown")
    refuse(session, 1, LOCKED, "verify_ip_limit")  # its first row is written: nothing of it pending
    assert audit.flush_refusals(session) == 2
    assert refusal_rows(session)[3:] == [
        ("verify_refused", "phone_locked x7", IP),
        ("code_refused", "cooldown x2", IP),
    ]
    assert audit.flush_refusals(session) == 0  # and nothing twice
    assert len(refusal_rows(session)) == 5
    # After a flush, the count starts again (the row it wrote is that kind's last).
    refuse(session, 10)
    clock.advance(REFUSAL_AUDIT_INTERVAL_SECONDS)
    refuse(session, 1)
    assert refusal_rows(session)[5:] == [("verify_refused", "phone_locked x11", IP)]
    assert audit.flush_refusals(session) == 0


def test_the_shutdown_flush_is_one_write_transaction(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[int] = []
    insert_all = audit._insert_all

    def counted(session: Session, rows: list[dict[str, object]]) -> None:
        writes.append(len(rows))
        insert_all(session, rows)

    for detail in ("phone_locked", "verify_ip_limit", "verify_requester_limit"):
        refuse(session, 5, LOCKED, detail)
    monkeypatch.setattr(audit, "_insert_all", counted)
    assert audit.flush_refusals(session) == 3
    assert writes == [3]


async def test_refusals_from_async_code_are_counted_on_the_loop(
    session: Session, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """record_refusal_soon: only a due row goes to a worker thread."""
    trips: list[object] = []
    run_with_session = audit.run_with_session

    async def counted(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        trips.append(fn)
        return await run_with_session(fn, *args, **kwargs)

    monkeypatch.setattr(audit, "run_with_session", counted)

    async def refuse_soon(times: int) -> None:
        await asyncio.gather(
            *(
                audit.record_refusal_soon(LOCKED, phone=PHONE, client_ip=IP, detail="phone_locked")
                for _ in range(times)
            )
        )

    await refuse_soon(200)
    assert len(trips) == 1
    clock.advance(REFUSAL_AUDIT_INTERVAL_SECONDS)
    await refuse_soon(1)
    assert len(trips) == 2
    assert [detail for _, detail, _ in refusal_rows(session)] == ["phone_locked", "phone_locked x200"]


def test_refusals_counted_from_many_threads_lose_none(
    session: Session, engine: sa.Engine, clock: FakeClock
) -> None:
    def flood() -> None:
        with Session(engine) as own:
            refuse(own, 500)

    threads = [threading.Thread(target=flood) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert audit.flush_refusals(session) == 1
    assert [detail for _, detail, _ in refusal_rows(session)] == ["phone_locked", "phone_locked x3999"]


async def test_the_server_writes_pending_refusals_when_it_stops(session: Session, settings: Settings) -> None:
    async with apply_migrations():
        refuse(session, 4)
    assert [detail for _, detail, _ in refusal_rows(session)] == ["phone_locked", "phone_locked x3"]


async def test_a_failing_flush_at_shutdown_is_only_logged(
    session: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(session: Session, rows: list[dict[str, object]]) -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("database is gone"), connection_invalidated=True)

    async with apply_migrations():
        refuse(session, 4)
        monkeypatch.setattr(audit, "_insert_all", broken)
    assert "writing the pending refusal counts at shutdown failed" in caplog.text
    assert [detail for _, detail, _ in refusal_rows(session)] == ["phone_locked"]


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


def test_recorded_events_cannot_be_deleted_outside_a_purge(session: Session, engine: sa.Engine) -> None:
    login_codes.issue_code(session, phone=PHONE, client_ip=IP)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        session.execute(sa.delete(AuditEvent))
        session.commit()
    session.rollback()
    if engine.dialect.name == "postgresql":
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            session.execute(sa.text("TRUNCATE audit_events"))
        session.rollback()
    assert events(session) == [("code_requested", PHONE, None)]


def test_a_phone_can_only_be_masked_once_and_nothing_else_changed(session: Session) -> None:
    login_codes.issue_code(session, phone=PHONE, client_ip=IP)
    other = "+79123450000"
    login_codes.issue_code(session, phone=other, client_ip=IP)
    with transaction(session, write=True):
        assert audit.mask_phone_events(session, phone=PHONE) == 1
    assert events(session) == [("code_requested", mask_phone(PHONE), None), ("code_requested", other, None)]
    for tampering in (
        sa.update(AuditEvent).where(AuditEvent.phone == mask_phone(PHONE)).values(phone="+7***0000"),  # re-mask
        sa.update(AuditEvent).where(AuditEvent.phone == other).values(phone="+71112223344"),  # not a mask
        sa.update(AuditEvent).where(AuditEvent.phone == other).values(phone="+7*", detail="x"),  # more than phone
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            session.execute(tampering)
            session.commit()
        session.rollback()
    assert events(session) == [("code_requested", mask_phone(PHONE), None), ("code_requested", other, None)]


def test_purge_removes_only_older_events_and_keeps_a_record(session: Session, clock: FakeClock) -> None:
    clock.now -= timedelta(days=40)
    login_codes.issue_code(session, phone=PHONE, client_ip=IP)
    with pytest.raises(RateLimited):
        login_codes.issue_code(session, phone=PHONE, client_ip=IP)
    clock.advance(40 * 86400)
    login_codes.issue_code(session, phone="+79123450000", client_ip=IP)

    run = audit.purge(session, before=audit.retention_cutoff(older_than_days=30), reason="yearly review")
    assert (run.removed, run.removed_by_event) == (2, {"code_refused": 1, "code_requested": 1})
    assert events(session) == [("code_requested", "+79123450000", None)]
    record = session.get(AuditPurge, run.id)
    assert record is not None and record.finished_at is not None
    assert (record.removed, record.reason) == (2, "yearly review")
    assert json.loads(record.removed_by_event or "") == run.removed_by_event


def test_purge_records_cannot_be_removed_or_rewritten_and_a_finished_purge_frees_nothing(session: Session) -> None:
    login_codes.issue_code(session, phone=PHONE, client_ip=IP)
    run = audit.purge(session, before=utcnow() - timedelta(days=365), reason="nothing that old")
    assert run.removed == 0
    for tampering in (
        sa.delete(AuditPurge),
        sa.update(AuditPurge).where(AuditPurge.id == run.id).values(removed=99),
        sa.update(AuditPurge).where(AuditPurge.id == run.id).values(finished_at=None),
        # A finished run with a later cutoff, made by hand, still lets nothing go.
        sa.update(AuditPurge).where(AuditPurge.id == run.id).values(removed_before=datetime(9999, 1, 1)),
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            session.execute(tampering)
            session.commit()
        session.rollback()
    session.add(
        AuditPurge(started_at=utcnow(), removed_before=datetime(9999, 1, 1), reason="x", finished_at=utcnow())
    )
    session.commit()
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        session.execute(sa.delete(AuditEvent))
        session.commit()
    session.rollback()
    assert len(events(session)) == 1


def test_retention_shorter_than_the_minimum_is_refused() -> None:
    with pytest.raises(audit.RetentionTooShort):
        audit.retention_cutoff(older_than_days=AUDIT_RETENTION_MIN_DAYS - 1)
    assert audit.retention_cutoff(older_than_days=AUDIT_RETENTION_MIN_DAYS) < utcnow()


def test_purge_command_prints_what_it_removed(session: Session, settings: Settings, clock: FakeClock) -> None:
    clock.now -= timedelta(days=400)  # the command itself runs on the real clock
    login_codes.issue_code(session, phone=PHONE, client_ip=IP)
    env = {**os.environ, "DATABASE_URL": settings.database_url}
    command = [sys.executable, "-m", "referral_app.cli", "purge-audit"]
    refused = subprocess.run([*command, "--older-than-days", "7"], env=env, capture_output=True, text=True)
    assert refused.returncode == 2 and "younger than 30 days are kept" in refused.stderr
    done = subprocess.run([*command, "--older-than-days", "365"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["removed"], summary["removed_by_event"]) == (1, {"code_requested": 1})
    assert events(session) == []
    assert session.get(AuditPurge, summary["purge_id"]) is not None

"""The audit trail: the security events each flow writes, with phone/user and IP — never codes or tokens."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from referral_app.core.clock import utcnow
from referral_app.core.config import Settings
from referral_app.core.db import transaction
from referral_app.limits import AUDIT_RETENTION_MIN_DAYS
from referral_app.models import AuditEvent, AuditPurge, LoginCode
from referral_app.services import audit, auth, login_codes, referrals, users
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
    auth.logout(session, token=result.access_token, client_ip=IP)
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

    def counted(session: Session, rows: list[dict[str, object]]) -> None:
        batches.append(len(rows))
        insert_all(session, rows)

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
    def broken(session: Session, rows: list[dict[str, object]]) -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("database is gone"))

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

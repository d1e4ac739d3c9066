"""Retention: what the daily purge removes and keeps, on the test clock; once a day however many processes
ask; the CLI; every run in the audit trail."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from referral_app import cli
from referral_app.core.config import Settings
from referral_app.core.db import transaction
from referral_app.models import AuditEvent, AuthToken, LoginCode, SignInGuard
from referral_app.services import auth, login_codes, retention, sessions
from referral_app.services.audit import Event
from tests.helpers import FakeClock

A, B, C, D = "+79123450001", "+79123450002", "+79123450003", "+79123450004"
DAY = 86400


def sign_in(session: Session, phone: str) -> str:
    code = login_codes.issue_code(session, phone=phone, client_ip="198.51.100.1")
    return auth.login_with_code(session, phone=phone, code=code, client_ip="198.51.100.1").access_token


def add_guard(session: Session, phone: str, clock: FakeClock, *, locked_for: float | None = None) -> None:
    with transaction(session, write=True):
        locked_until = clock.now + timedelta(seconds=locked_for) if locked_for else None
        session.add(SignInGuard(phone=phone, failures=5.0, locked_until=locked_until, updated_at=clock.now))


def left(session: Session) -> tuple[list[str], list[str], int]:
    session.rollback()
    tokens = [t.token_hash for t in session.exec(select(AuthToken)).all()]
    guards = sorted(g.phone for g in session.exec(select(SignInGuard)).all())
    return tokens, guards, len(session.exec(select(LoginCode)).all())


def purge_events(session: Session) -> list[dict[str, int]]:
    session.rollback()
    rows = session.exec(
        select(AuditEvent).where(AuditEvent.event == Event.DATA_PURGED.value).order_by(col(AuditEvent.id))
    ).all()
    return [json.loads(row.detail or "") for row in rows]


def test_what_goes_and_what_stays(session: Session, settings: Settings, clock: FakeClock) -> None:
    revoked = sign_in(session, A)
    sessions.logout(session, token=revoked)
    sign_in(session, B)  # its token expires in 30 days
    add_guard(session, C, clock)
    drain = login_codes.guard_drain_time(settings).total_seconds()
    add_guard(session, D, clock, locked_for=drain + 2 * DAY)  # still locked after C's bucket has drained
    assert len(left(session)[0]) == 2 and left(session)[2] == 2

    clock.advance(DAY - 60)  # the codes were spent less than a day ago
    early = retention.purge(session)
    assert (early.tokens, early.sign_in_guards, early.login_codes) == (0, 0, 0)
    clock.advance(120)
    live_code = login_codes.issue_code(session, phone=C, client_ip=None)  # alive: stays
    assert live_code
    first = retention.purge(session)
    assert (first.tokens, first.sign_in_guards, first.login_codes) == (0, 0, 2)
    assert early.rate_counters + first.rate_counters >= 1  # the sign-ins' hour windows (SMS budgets)
    assert left(session)[2] == 1

    clock.advance(drain)  # C's bucket is empty, D is still locked; the live code expired days ago
    drained = retention.purge(session)
    assert (drained.sign_in_guards, drained.login_codes) == (1, 1)
    assert left(session)[1] == [D]

    clock.advance(30 * DAY)  # A's token was revoked over 30 days ago; B's expired under 30 days ago
    purged = retention.purge(session)
    assert (purged.tokens, purged.sign_in_guards) == (1, 1)
    tokens, guards, codes = left(session)
    assert (len(tokens), guards, codes) == (1, [], 0)  # B's token is left; D's lock ended, its bucket drained
    clock.advance(30 * DAY)
    assert retention.purge(session).tokens == 1
    assert left(session) == ([], [], 0)

    runs = purge_events(session)
    assert len(runs) == 5
    assert runs[1] == {"tokens": 0, "sign_in_guards": 0, "login_codes": 2, "rate_counters": first.rate_counters}


def test_once_a_day_whoever_asks(session: Session, settings: Settings, clock: FakeClock) -> None:
    assert retention.purge_if_due(session) is not None
    clock.advance(DAY - 1)
    assert retention.purge_if_due(session) is None
    clock.advance(2)
    assert retention.purge_if_due(session) is not None
    assert len(purge_events(session)) == 2


def test_two_processes_asking_at_once_purge_once(engine: Engine, settings: Settings, clock: FakeClock) -> None:
    start = threading.Barrier(2)
    results: list[retention.Purged | None] = []

    def ask() -> None:
        with Session(engine) as own:
            start.wait()
            results.append(retention.purge_if_due(own))

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r is None for r in results) == [False, True]
    with Session(engine) as own:
        assert len(purge_events(own)) == 1


def test_the_cli_purges_now_and_prints_the_counts(
    session: Session, settings: Settings, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    sign_in(session, A)
    clock.advance(2 * DAY)
    assert cli.main(["purge-stale"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["login_codes"] == 1 and printed["tokens"] == 0
    assert purge_events(session)[-1] == printed
    assert cli.main(["purge-stale"]) == 0  # on demand: not held back by the daily schedule
    assert len(purge_events(session)) == 2

"""Refusals answered from the process's cache, over HTTP on SQLite and PostgreSQL: exactly the
database's answer, no statement, a lock that ends on time, a withdrawn code, a bounded cache."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import ClassVar

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from referral_app.api.main import create_api
from referral_app.core.config import Settings
from referral_app.limits import REFUSAL_AUDIT_INTERVAL_SECONDS
from referral_app.models import AuditEvent, LoginCode, SignInGuard
from referral_app.services import refusal_cache
from tests.helpers import FakeClock, configure

PHONE = "+79123456789"
TOKEN = "/api/v1/auth/token"
CODE = "/api/v1/auth/code"


@pytest.fixture
async def stranger(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_api(), client=("203.0.113.99", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


class Statements:
    """SQL statements the app's engine ran."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *_: object) -> None:
        self.count += 1


@pytest.fixture
def statements(engine: Engine) -> Iterator[Statements]:
    counter = Statements()
    sa.event.listen(engine, "before_cursor_execute", counter)
    yield counter
    sa.event.remove(engine, "before_cursor_execute", counter)


def answer(response: httpx.Response) -> tuple[int, dict, str | None]:
    return response.status_code, response.json(), response.headers.get("Retry-After")


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10_000:04d}"


async def lock_phone(client: httpx.AsyncClient, stranger: httpx.AsyncClient) -> str:
    code = (await client.post(CODE, json={"phone": PHONE})).json()["debug_code"]
    for _ in range(10):
        last = await stranger.post(TOKEN, json={"phone": PHONE, "code": wrong(code)})
    assert last.json()["code"] == "rate_limited"
    return code


async def test_a_cached_lock_answers_as_the_database_and_ends_on_time(
    client: httpx.AsyncClient,
    stranger: httpx.AsyncClient,
    session: Session,
    clock: FakeClock,
    statements: Statements,
) -> None:
    code = await lock_phone(client, stranger)
    guess = {"phone": PHONE, "code": code}
    # The request that locked wrote the lock; the next one reads it from the database, and keeps it.
    from_database = await stranger.post(TOKEN, json=guess)
    assert refusal_cache.size() == 1
    before = statements.count
    cached = await stranger.post(TOKEN, json=guess)
    assert statements.count == before  # answered without a statement (its audit row waits for its batch)
    assert answer(cached) == answer(from_database)
    assert cached.status_code == 429 and cached.json()["code"] == "rate_limited"
    # Retry-After counts down with the clock, exactly as the database path's does.
    retry_after = int(from_database.headers["Retry-After"])
    clock.advance(100)
    later = await stranger.post(TOKEN, json=guess)
    assert int(later.headers["Retry-After"]) == retry_after - 100
    refusal_cache.forget()
    assert answer(await stranger.post(TOKEN, json=guess)) == answer(later)
    # The lock ends at locked_until exactly: one second before, refused (from the cache); at it, let in.
    session.rollback()
    guard = session.get(SignInGuard, (PHONE, ""))
    assert guard is not None and guard.locked_until is not None
    clock.now = guard.locked_until - timedelta(seconds=30)
    fresh = (await client.post(CODE, json={"phone": PHONE})).json()["debug_code"]  # a locked phone gets codes
    clock.now = guard.locked_until - timedelta(seconds=1)
    almost = await client.post(TOKEN, json={"phone": PHONE, "code": fresh})
    assert (almost.status_code, almost.headers["Retry-After"]) == (429, "1")
    clock.now = guard.locked_until
    assert (await client.post(TOKEN, json={"phone": PHONE, "code": fresh})).status_code == 200


async def test_cached_send_refusals_answer_as_the_database(
    client: httpx.AsyncClient, settings: Settings, clock: FakeClock, statements: Statements
) -> None:
    settled = refusal_cache.withdraw_window(settings).total_seconds() + 1
    assert (await client.post(CODE, json={"phone": PHONE})).status_code == 200
    # Inside the window a failed SMS may still withdraw the code: the database decides every time.
    early = await client.post(CODE, json={"phone": PHONE})
    assert early.json()["code"] == "rate_limited" and refusal_cache.size() == 0
    clock.advance(settled)
    from_database = await client.post(CODE, json={"phone": PHONE})
    assert int(from_database.headers["Retry-After"]) == 60 - settled
    assert refusal_cache.size() == 1
    before = statements.count
    cached = await client.post(CODE, json={"phone": PHONE})
    assert statements.count == before and answer(cached) == answer(from_database)
    clock.advance(60 - settled - 1)
    assert (await client.post(CODE, json={"phone": PHONE})).headers["Retry-After"] == "1"
    clock.advance(1)  # the cooldown's end: the next code
    assert (await client.post(CODE, json={"phone": PHONE})).status_code == 200
    # The hourly limit: 5 codes in the hour, then refused until the first of them is an hour old.
    for _ in range(3):
        clock.advance(61)
        assert (await client.post(CODE, json={"phone": PHONE})).status_code == 200
    clock.advance(61)
    limited = await client.post(CODE, json={"phone": PHONE})
    cached = await client.post(CODE, json={"phone": PHONE})
    refusal_cache.forget()
    again = await client.post(CODE, json={"phone": PHONE})
    assert answer(limited) == answer(cached) == answer(again)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 3000


class HeldSender:
    """An SMS provider that fails, when the test lets it."""

    release: ClassVar[asyncio.Event]

    async def send(self, phone: str, text: str) -> None:
        await HeldSender.release.wait()
        raise ConnectionError("provider answered 503")


async def codes(session: Session) -> int:
    session.rollback()
    return session.exec(select(func.count()).select_from(LoginCode)).one()


async def in_flight(client: httpx.AsyncClient, session: Session) -> asyncio.Task[httpx.Response]:
    HeldSender.release = asyncio.Event()
    sending = asyncio.create_task(client.post(CODE, json={"phone": PHONE}))
    for _ in range(2000):  # until its code is written (a deadline against a hang only)
        if await codes(session):
            return sending
        await asyncio.sleep(0.01)
    raise AssertionError("the code was never written")


async def test_a_withdrawn_code_lets_the_person_retry_at_once_after_a_cooldown_refusal(
    client: httpx.AsyncClient, settings: Settings, session: Session, clock: FakeClock
) -> None:
    configure(settings, sms_sender=f"{__name__}:HeldSender")
    sending = await in_flight(client, session)
    refused = await client.post(CODE, json={"phone": PHONE})  # the cooldown of the code on its way
    assert refused.json()["code"] == "rate_limited"
    HeldSender.release.set()
    assert (await sending).json()["code"] == "sms_failed"
    configure(settings, sms_sender="referral_app.services.sms:LogSmsSender")
    assert (await client.post(CODE, json={"phone": PHONE})).status_code == 200  # at once


async def test_a_code_past_the_withdraw_window_stands_in_the_cache_and_the_database(
    client: httpx.AsyncClient, settings: Settings, session: Session, clock: FakeClock
) -> None:
    settings = configure(settings, sms_sender=f"{__name__}:HeldSender")
    sending = await in_flight(client, session)
    clock.advance(refusal_cache.withdraw_window(settings).total_seconds())  # settled: no withdraw any more
    cached = await client.post(CODE, json={"phone": PHONE})
    assert cached.json()["code"] == "rate_limited" and refusal_cache.size() == 1
    HeldSender.release.set()
    assert (await sending).json()["code"] == "sms_failed"
    assert await codes(session) == 1  # too late to withdraw: the code and its cooldown stand
    session.rollback()
    failures = session.exec(select(AuditEvent.detail).where(AuditEvent.event == "sms_failed")).all()
    assert failures == ["custom: ConnectionError"]
    assert answer(await client.post(CODE, json={"phone": PHONE})) == answer(cached)
    refusal_cache.forget()
    assert answer(await client.post(CODE, json={"phone": PHONE})) == answer(cached)  # the database agrees


async def test_the_cache_stays_bounded(
    client: httpx.AsyncClient, settings: Settings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(refusal_cache._cache, "max_entries", 3)
    phones = [f"+7912555{n:04d}" for n in range(6)]
    for phone in phones:
        assert (await client.post(CODE, json={"phone": phone})).status_code == 200
    clock.advance(refusal_cache.withdraw_window(settings).total_seconds() + 1)
    first = [answer(await client.post(CODE, json={"phone": phone})) for phone in phones]
    assert refusal_cache.size() == 3
    # The evicted ones are answered by the database, the same.
    assert [answer(await client.post(CODE, json={"phone": phone})) for phone in phones] == first
    assert refusal_cache.size() == 3
    assert {status for status, _, _ in first} == {429}


async def test_cached_refusals_are_audited_one_row_per_ten(
    client: httpx.AsyncClient, stranger: httpx.AsyncClient, session: Session, clock: FakeClock
) -> None:
    code = await lock_phone(client, stranger)

    def refused_rows() -> list[str | None]:
        session.rollback()
        rows = session.exec(select(AuditEvent.detail).where(AuditEvent.event == "verify_refused")).all()
        return sorted(rows, key=str)

    first = await stranger.post(TOKEN, json={"phone": PHONE, "code": code})  # read from the database, kept
    assert first.status_code == 429 and refused_rows() == ["phone_locked"]  # the first of its kind: at once
    for n in range(20):  # answered from the cache, before any worker thread; one row per ten, per interval
        if n % 10 == 0:
            clock.advance(REFUSAL_AUDIT_INTERVAL_SECONDS)
        assert (await stranger.post(TOKEN, json={"phone": PHONE, "code": code})).status_code == 429
    assert refused_rows() == ["phone_locked", "phone_locked x10", "phone_locked x10"]

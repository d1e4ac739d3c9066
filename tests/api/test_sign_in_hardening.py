"""Sign-in against a patient attacker, over HTTP on SQLite and PostgreSQL: the owner's device keeps
its own budget, verification is limited per requester, one client identity, SMS pumping, provider failures,
invite guessing, and refusals that cost no write each."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import ClassVar

import httpx
import pytest
from sqlmodel import Session, func, select

from referral_app.api.main import create_api
from referral_app.core.config import Settings
from referral_app.core.net import client_ip, requester_key
from referral_app.limits import REFUSAL_AUDIT_INTERVAL_SECONDS
from referral_app.models import AuditEvent, LoginCode, SignInGuard
from tests.helpers import FakeClock, api_login, bearer, configure

PHONE = "+79123456789"
TOKEN = "/api/v1/auth/token"
CODE = "/api/v1/auth/code"


async def make_client(peer: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_api(), client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def stranger(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with await make_client("203.0.113.99") as c:
        yield c


def audit_rows(session: Session, event: str) -> list[AuditEvent]:
    session.rollback()
    return list(session.exec(select(AuditEvent).where(AuditEvent.event == event).order_by(AuditEvent.id)).all())


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10_000:04d}"


# --- 2. lock out the attacker, not the owner ----------------------------------------------------------------


async def test_strangers_failures_never_lock_out_the_owners_device(
    client: httpx.AsyncClient, stranger: httpx.AsyncClient, clock: FakeClock
) -> None:
    device = (await api_login(client, PHONE))["device_token"]
    clock.advance(61)
    code = (await client.post(CODE, json={"phone": PHONE})).json()["debug_code"]
    # A stranger fails until the phone is locked (for strangers).
    for _ in range(10):
        last = await stranger.post(TOKEN, json={"phone": PHONE, "code": wrong(code)})
    assert last.json()["code"] == "rate_limited"
    # The owner on the device used before: the code (burned by the stranger? no: 5 tries burn a code, so a
    # fresh one) works at once.
    clock.advance(61)
    code = (await client.post(CODE, json={"phone": PHONE})).json()["debug_code"]
    refused = await client.post(TOKEN, json={"phone": PHONE, "code": code})  # without the token: a stranger
    assert refused.json()["code"] == "rate_limited"
    signed_in = await client.post(TOKEN, json={"phone": PHONE, "code": code, "device_token": device})
    assert signed_in.status_code == 200 and signed_in.json()["device_token"] == device
    # Someone else's device token (another phone's) is no token for this phone.
    other = (await api_login(client, "+79001112233"))["device_token"]
    clock.advance(61)
    code = (await client.post(CODE, json={"phone": PHONE})).json()["debug_code"]
    forged = await client.post(TOKEN, json={"phone": PHONE, "code": code, "device_token": other})
    assert forged.json()["code"] == "rate_limited"


async def test_a_verify_without_a_live_code_counts_nothing_against_the_phone(
    stranger: httpx.AsyncClient, session: Session
) -> None:
    for n in range(20):
        response = await stranger.post(TOKEN, json={"phone": PHONE, "code": f"{n:04d}"})
        assert (response.status_code, response.json()["code"]) == (400, "invalid_code")
    session.rollback()
    assert session.exec(select(SignInGuard)).first() is None  # the phone is not one failure closer to a lock


async def test_verification_is_limited_per_requester_and_ipv6_prefix(settings: Settings) -> None:
    configure(settings, verify_max_per_ip_per_hour=5)
    async with await make_client("2001:db8:1:2::1") as first, await make_client("2001:db8:1:2::ffff") as same_64:
        for n in range(5):
            response = await first.post(TOKEN, json={"phone": f"+7912000{n:04d}", "code": "0000"})
            assert response.json()["code"] == "invalid_code"
        # Another address of the same /64 is the same requester.
        refused = await same_64.post(TOKEN, json={"phone": "+79120009999", "code": "0000"})
        assert (refused.status_code, refused.json()["code"]) == (429, "rate_limited")
        assert 0 < int(refused.headers["Retry-After"]) <= 3600
    async with await make_client("2001:db8:1:3::1") as other_64:
        assert (await other_64.post(TOKEN, json={"phone": PHONE, "code": "0000"})).json()["code"] == "invalid_code"


# --- 3. one client identity ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "lines", "trusted", "expected"),
    [
        # HAProxy `option forwardfor` adds its own line: all lines are one list, read from the right.
        ("127.0.0.1", ["6.6.6.6", "198.51.100.1"], ["127.0.0.1"], "198.51.100.1"),
        ("127.0.0.1", ["6.6.6.6, 198.51.100.1"], ["127.0.0.1"], "198.51.100.1"),
        ("127.0.0.1", ["198.51.100.1:5678"], ["127.0.0.1"], "198.51.100.1"),
        ("127.0.0.1", ["[2001:db8::7]:443"], ["127.0.0.1"], "2001:db8::7"),
        ("127.0.0.1", ["[2001:db8::7]"], ["127.0.0.1"], "2001:db8::7"),
        ("127.0.0.1", ["198.51.100.1, 10.0.0.2:80"], ["127.0.0.1", "10.0.0.0/8"], "198.51.100.1"),
        ("127.0.0.1", ["unknown"], ["127.0.0.1"], None),  # nobody we could count: refused
        ("203.0.113.5", ["198.51.100.1"], ["127.0.0.1"], "203.0.113.5"),  # untrusted peer: header ignored
        (None, [], ["127.0.0.1"], None),  # a Unix socket, not declared trusted
        ("", ["198.51.100.1"], ["127.0.0.1"], None),
        (None, ["198.51.100.1"], ["127.0.0.1", "unix"], "198.51.100.1"),  # declared trusted
        (None, [], ["unix"], None),
    ],
)
def test_client_identity(peer: str | None, lines: list[str], trusted: list[str], expected: str | None) -> None:
    assert client_ip(peer, lines, trusted) == expected


def test_ipv6_clients_are_counted_by_prefix() -> None:
    assert requester_key("2001:db8:1:2:3:4:5:6", 64) == "2001:db8:1:2::/64"
    assert requester_key("2001:db8:1:2:3:4:5:6", 128) == "2001:db8:1:2:3:4:5:6"
    assert requester_key("198.51.100.1", 64) == "198.51.100.1"


async def test_repeated_forwarded_for_lines_and_ports_over_http(settings: Settings, session: Session) -> None:
    async with await make_client("127.0.0.1") as proxy:
        for n, lines in enumerate([["6.6.6.6", "198.51.100.1:1234"], ["[2001:db8:5::1]:443"]]):
            headers = httpx.Headers([("X-Forwarded-For", line) for line in lines])
            assert (await proxy.post(CODE, json={"phone": f"+7912333{n:04d}"}, headers=headers)).status_code == 200
    session.rollback()
    assert session.exec(select(LoginCode.requester_ip).order_by(LoginCode.id)).all() == [
        "198.51.100.1",
        "2001:db8:5::/64",
    ]


async def test_an_unknown_peer_is_refused_not_shared(settings: Settings) -> None:
    app = create_api()

    async def unix_socket(scope, receive, send):  # type: ignore[no-untyped-def]
        await app({**scope, "client": None}, receive, send)

    transport = httpx.ASGITransport(app=unix_socket)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        refused = await c.post(CODE, json={"phone": PHONE})
        assert (refused.status_code, refused.json()["code"]) == (403, "unknown_client")
        configure(settings, trusted_proxies=["unix"])
        forwarded = await c.post(CODE, json={"phone": PHONE}, headers={"X-Forwarded-For": "198.51.100.3"})
        assert forwarded.status_code == 200


# --- 4. SMS pumping ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("phone", ["+78001234567", "+78091234567", "+19005551234", "+74951234567"])
async def test_numbers_that_get_no_sms_are_refused(
    client: httpx.AsyncClient, session: Session, phone: str
) -> None:
    response = await client.post(CODE, json={"phone": phone})
    assert (response.status_code, response.json()["code"]) == (422, "unsupported_number")
    session.rollback()
    assert session.exec(select(func.count()).select_from(LoginCode)).one() == 0
    assert [(e.phone, e.detail) for e in audit_rows(session, "code_refused")] == [(phone, "number_type")]


async def test_allowed_regions_and_wider_number_types(client: httpx.AsyncClient, settings: Settings) -> None:
    configure(settings, allowed_regions=["RU"])
    refused = await client.post(CODE, json={"phone": "+447911123456"})
    assert refused.json()["code"] == "unsupported_number"
    configure(settings, allowed_regions=[], sms_number_types=["MOBILE", "FIXED_LINE"])
    assert (await client.post(CODE, json={"phone": "+74951234567"})).status_code == 200


async def test_global_and_per_country_sms_budgets(
    client: httpx.AsyncClient, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    configure(settings, sms_max_per_hour=5, sms_max_per_country_per_hour=3)
    statuses = [(await client.post(CODE, json={"phone": f"+7912444{n:04d}"})).status_code for n in range(4)]
    assert statuses == [200, 200, 200, 429]  # Russia's 3 an hour
    assert "ALERT: the hourly SMS budget is used up: sms_country +7" in caplog.text
    uk = [(await client.post(CODE, json={"phone": f"+4479111{n:05d}"})).status_code for n in range(3)]
    assert uk == [200, 200, 429]  # 5 in all
    refused = await client.post(CODE, json={"phone": "+447911100009"})
    assert refused.json()["code"] == "rate_limited" and 0 < int(refused.headers["Retry-After"]) <= 3600


# --- 8. provider failures ------------------------------------------------------------------------------------


class FailingSender:
    """An SMS provider that fails on purpose: raises, or hangs past the timeout."""

    mode: ClassVar[str] = "raise"

    async def send(self, phone: str, text: str) -> None:
        import asyncio

        if FailingSender.mode == "raise":
            raise ConnectionError("provider answered 503")
        await asyncio.sleep(5)


@pytest.mark.parametrize("mode", ["raise", "hang"])
async def test_a_failing_provider_gives_sms_failed_and_spends_nothing(
    client: httpx.AsyncClient, settings: Settings, session: Session, mode: str
) -> None:
    FailingSender.mode = mode
    # The breaker would skip the provider after 3 failures (its own tests: tests/api/test_sms_providers.py).
    configure(settings, sms_sender=f"{__name__}:FailingSender", sms_timeout_seconds=0.2, sms_breaker_failures=100)
    for _ in range(6):  # more than the hourly limit of 5, and never a cooldown
        response = await client.post(CODE, json={"phone": PHONE})
        assert (response.status_code, response.json()["code"]) == (502, "sms_failed")
    session.rollback()
    assert session.exec(select(func.count()).select_from(LoginCode)).one() == 0
    assert [e.detail for e in audit_rows(session, "sms_failed")] == [
        "custom: ConnectionError" if mode == "raise" else "custom: timeout"
    ] * 6
    configure(settings, sms_sender="referral_app.services.sms:LogSmsSender")
    assert (await client.post(CODE, json={"phone": PHONE})).status_code == 200  # at once


# --- 5. invite-code guessing ---------------------------------------------------------------------------------


async def test_invite_guessing_is_throttled_per_user(client: httpx.AsyncClient, clock: FakeClock) -> None:
    user = bearer((await api_login(client, PHONE))["access_token"])
    owner = (await api_login(client, "+79001112233"))["user"]["invite_code"]
    for n in range(10):
        miss = await client.post("/api/v1/profile/invite", headers=user, json={"invite_code": f"ZZZZ{n:02d}"})
        assert miss.json()["code"] == "invite_code_not_found"
    throttled = await client.post("/api/v1/profile/invite", headers=user, json={"invite_code": owner})
    assert (throttled.status_code, throttled.json()["code"]) == (429, "rate_limited")  # even the right code
    clock.advance(int(throttled.headers["Retry-After"]))
    assert (
        await client.post("/api/v1/profile/invite", headers=user, json={"invite_code": owner})
    ).status_code == 200


# --- 6. refusals cost no write each --------------------------------------------------------------------------


async def test_a_flood_of_refusals_adds_one_audit_row_per_ten(
    client: httpx.AsyncClient, stranger: httpx.AsyncClient, session: Session, clock: FakeClock
) -> None:
    """Ten refusals a second or fewer: one row per ten (a kind gets at most one row per interval: see
    test_a_fast_flood_adds_one_audit_row_per_interval)."""
    code = (await client.post(CODE, json={"phone": PHONE})).json()["debug_code"]
    for _ in range(10):
        await stranger.post(TOKEN, json={"phone": PHONE, "code": wrong(code)})
    for n in range(100):  # the phone is locked: each of these is refused unevaluated
        if n and n % 10 == 0:
            clock.advance(REFUSAL_AUDIT_INTERVAL_SECONDS)
        assert (await stranger.post(TOKEN, json={"phone": PHONE, "code": code})).status_code == 429
    for n in range(100):  # the cooldown
        if n and n % 10 == 0:
            clock.advance(REFUSAL_AUDIT_INTERVAL_SECONDS)
        assert (await client.post(CODE, json={"phone": PHONE})).status_code == 429
    verify = audit_rows(session, "verify_refused")
    sends = audit_rows(session, "code_refused")
    assert [e.detail for e in verify] == ["phone_locked"] + ["phone_locked x10"] * 9
    assert [e.detail for e in sends] == ["cooldown"] + ["cooldown x10"] * 9
    assert len(audit_rows(session, "wrong_code")) == 10  # evaluated guesses are each recorded


async def test_a_fast_flood_adds_one_audit_row_per_interval(
    client: httpx.AsyncClient, stranger: httpx.AsyncClient, session: Session, clock: FakeClock
) -> None:
    """Within one interval, however many refusals of a kind, only the first is written; the next row, once the
    interval has passed, counts every refusal since."""
    code = (await client.post(CODE, json={"phone": PHONE})).json()["debug_code"]
    for _ in range(10):
        await stranger.post(TOKEN, json={"phone": PHONE, "code": wrong(code)})
    for _ in range(200):  # the phone is locked
        assert (await stranger.post(TOKEN, json={"phone": PHONE, "code": code})).status_code == 429
    for _ in range(200):  # the cooldown
        assert (await client.post(CODE, json={"phone": PHONE})).status_code == 429
    assert [e.detail for e in audit_rows(session, "verify_refused")] == ["phone_locked"]
    assert [e.detail for e in audit_rows(session, "code_refused")] == ["cooldown"]
    clock.advance(REFUSAL_AUDIT_INTERVAL_SECONDS)
    assert (await stranger.post(TOKEN, json={"phone": PHONE, "code": code})).status_code == 429
    assert [e.detail for e in audit_rows(session, "verify_refused")] == ["phone_locked", "phone_locked x200"]
    assert [e.detail for e in audit_rows(session, "code_refused")] == ["cooldown"]  # counted apart: still pending

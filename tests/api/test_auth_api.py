"""The auth endpoints over HTTP (ASGI): the contract, every error body, headers, client IPs."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlmodel import Session, select

from referral_app.api.main import create_api
from referral_app.core.config import Settings
from referral_app.models import LoginCode
from tests.helpers import PRODUCTION_SECRET_KEY, Stopwatch, api_login, bearer, configure, shift_back

PHONE = "+79123456789"


async def test_send_code_contract(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/code", json={"phone": "8 912 345-67-89"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"phone", "expires_in", "resend_in", "code_length", "debug_code"}
    assert body["phone"] == PHONE
    assert (body["expires_in"], body["resend_in"], body["code_length"]) == (300, 60, 4)
    assert body["debug_code"].isdigit() and len(body["debug_code"]) == 4


async def test_no_debug_code_outside_demo_mode(client: httpx.AsyncClient, settings: Settings) -> None:
    configure(settings, demo_mode=False, secret_key=PRODUCTION_SECRET_KEY)
    response = await client.post("/api/v1/auth/code", json={"phone": PHONE, "region": "ru"})
    assert response.status_code == 200
    assert "debug_code" not in response.json()


async def test_same_answer_for_new_and_existing_users(client: httpx.AsyncClient, session: Session) -> None:
    await api_login(client, PHONE)
    shift_back(session, LoginCode, 61, "created_at")
    existing = (await client.post("/api/v1/auth/code", json={"phone": PHONE})).json()
    new = (await client.post("/api/v1/auth/code", json={"phone": "+79001112233"})).json()
    assert set(existing) == set(new)
    assert {k: v for k, v in existing.items() if k not in ("phone", "debug_code")} == {
        k: v for k, v in new.items() if k not in ("phone", "debug_code")
    }


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"phone": "12345"}, "invalid_phone"),
        ({"phone": "9123456789", "region": "ZZ"}, "invalid_phone"),
        # Schema-valid (minLength 1) but blank: a bad phone, not a validation_error the schema did not predict.
        ({"phone": "   "}, "invalid_phone"),
        ({"phone": "\u0085"}, "invalid_phone"),
        ({"phone": "9123456789", "region": "Russia"}, "validation_error"),
        ({}, "validation_error"),
        ({"phone": 79123456789}, "validation_error"),
        ({"phone": PHONE, "extra": 1}, "validation_error"),
    ],
)
async def test_send_code_bad_input(client: httpx.AsyncClient, payload: dict, code: str) -> None:
    response = await client.post("/api/v1/auth/code", json=payload)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == code and body["detail"]
    if code == "validation_error":
        assert body["errors"] and {"loc", "msg", "type"} <= set(body["errors"][0])


async def test_cooldown_answers_429_with_retry_after(client: httpx.AsyncClient) -> None:
    watch = Stopwatch()
    assert (await client.post("/api/v1/auth/code", json={"phone": PHONE})).status_code == 200
    response = await client.post("/api/v1/auth/code", json={"phone": PHONE})
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "rate_limited"
    assert 60 - watch.seconds() <= int(response.headers["Retry-After"]) <= 60
    assert body["retry_after"] == int(response.headers["Retry-After"])


async def test_login_contract(client: httpx.AsyncClient) -> None:
    body = await api_login(client, "+7 912 345-67-89")
    assert set(body) == {"access_token", "token_type", "expires_in", "is_new_user", "device_token", "user"}
    assert body["device_token"].startswith("rfd_")
    assert body["token_type"] == "bearer" and body["is_new_user"] is True
    assert body["expires_in"] == 30 * 24 * 3600
    user = body["user"]
    assert user["phone"] == PHONE and len(user["invite_code"]) == 6
    assert user["activated_invite_code"] is None and user["invited_by"] is None
    assert user["referrals"] == [] and user["referrals_count"] == 0


async def test_returning_user_is_not_new(client: httpx.AsyncClient, session: Session) -> None:
    first = await api_login(client, PHONE)
    shift_back(session, LoginCode, 61, "created_at")
    second = await api_login(client, "89123456789")
    assert second["is_new_user"] is False
    assert second["user"]["id"] == first["user"]["id"]


async def test_wrong_code_burn_and_lock_over_http(client: httpx.AsyncClient, session: Session) -> None:
    codes = []
    for round_ in range(2):
        sent = await client.post("/api/v1/auth/code", json={"phone": PHONE})
        codes.append(sent.json()["debug_code"])
        shift_back(session, LoginCode, 61, "created_at")
        wrong = f"{(int(codes[-1]) + 1) % 10_000:04d}"
        for attempt in range(5):
            response = await client.post("/api/v1/auth/token", json={"phone": PHONE, "code": wrong})
            body = response.json()
            if round_ == 0 and attempt < 4:
                assert (response.status_code, body["code"], body["attempts_left"]) == (
                    400,
                    "invalid_code",
                    4 - attempt,
                )
            elif round_ == 0:
                assert (response.status_code, body["code"]) == (429, "too_many_attempts")
                assert "Retry-After" not in response.headers
    assert (response.status_code, body["code"]) == (429, "rate_limited")
    assert response.headers["Retry-After"] == str(8 * 3600)  # until the 30-day budget allows a guess again
    locked = await client.post("/api/v1/auth/token", json={"phone": PHONE, "code": codes[-1]})
    assert locked.status_code == 429 and locked.json()["code"] == "rate_limited"


async def test_token_request_validation(client: httpx.AsyncClient) -> None:
    for payload, status, code in [
        ({"phone": PHONE}, 422, "validation_error"),
        ({"phone": "nope", "code": "1234"}, 422, "invalid_phone"),
        ({"phone": PHONE, "code": "1234"}, 400, "invalid_code"),
        ({"phone": PHONE, "code": "x" * 17}, 422, "validation_error"),
    ]:
        response = await client.post("/api/v1/auth/token", json=payload)
        assert (response.status_code, response.json()["code"]) == (status, code), payload


async def test_logout_then_token_is_rejected(client: httpx.AsyncClient) -> None:
    token = (await api_login(client, PHONE))["access_token"]
    assert (await client.get("/api/v1/profile", headers=bearer(token))).status_code == 200
    logout = await client.post("/api/v1/auth/logout", headers=bearer(token))
    assert logout.status_code == 204 and logout.content == b""
    after = await client.get("/api/v1/profile", headers=bearer(token))
    assert after.status_code == 401
    assert after.json()["code"] == "not_authenticated"
    assert after.headers["WWW-Authenticate"] == "Bearer"
    again = await client.post("/api/v1/auth/logout", headers=bearer(token))
    assert again.status_code == 401


async def test_logout_without_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/logout")
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/auth/logout", {"scope": "nowhere"}),
        ("POST", "/api/v1/auth/logout", {"unknown": 1}),
        ("DELETE", "/api/v1/auth/sessions/not-a-number", None),
        ("DELETE", "/api/v1/auth/sessions/0", None),
        ("DELETE", "/api/v1/profile", {"code": ""}),
    ],
)
async def test_without_a_token_the_answer_is_401_before_any_validation(
    client: httpx.AsyncClient, method: str, path: str, body: dict | None
) -> None:
    """A client without a token learns nothing about what the body or path should look like."""
    for headers in ({}, bearer("rfa_" + "x" * 43)):
        response = await client.request(method, path, json=body, headers=headers)
        assert (response.status_code, response.json()["code"]) == (401, "not_authenticated"), response.text


async def test_with_a_token_bad_input_is_still_422(client: httpx.AsyncClient) -> None:
    token = (await api_login(client, PHONE))["access_token"]
    response = await client.post("/api/v1/auth/logout", json={"scope": "nowhere"}, headers=bearer(token))
    assert (response.status_code, response.json()["code"]) == (422, "validation_error")
    response = await client.delete("/api/v1/auth/sessions/0", headers=bearer(token))
    assert (response.status_code, response.json()["code"]) == (422, "validation_error")


async def test_verify_race_over_http_gives_one_token(client: httpx.AsyncClient) -> None:
    code = (await client.post("/api/v1/auth/code", json={"phone": PHONE})).json()["debug_code"]
    responses = await asyncio.gather(
        *(client.post("/api/v1/auth/token", json={"phone": PHONE, "code": code}) for _ in range(20))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 1
    assert all(s in (400, 429) for s in statuses if s != 200)


async def _send_from(settings: Settings, peer: str, forwarded_for: str | None, phone: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_api(), client=(peer, 40000))
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        return await c.post("/api/v1/auth/code", json={"phone": phone}, headers=headers)


async def test_forwarded_for_is_ignored_from_untrusted_peers(settings: Settings, session: Session) -> None:
    response = await _send_from(settings, "203.0.113.9", "1.2.3.4", PHONE)
    assert response.status_code == 200
    assert session.exec(select(LoginCode.requester_ip)).one() == "203.0.113.9"


async def test_forwarded_for_is_used_behind_a_trusted_proxy(settings: Settings, session: Session) -> None:
    response = await _send_from(settings, "127.0.0.1", "1.2.3.4, 198.51.100.20", PHONE)
    assert response.status_code == 200
    assert session.exec(select(LoginCode.requester_ip)).one() == "198.51.100.20"
    configure(settings, trusted_proxies=["10.0.0.0/8"])
    await _send_from(settings, "10.1.2.3", "198.51.100.30, 10.9.9.9", "+79001112233")
    session.rollback()  # end the earlier read's snapshot
    ips = set(session.exec(select(LoginCode.requester_ip)).all())
    assert "198.51.100.30" in ips


async def test_ip_limit_cannot_be_dodged_with_spoofed_headers(settings: Settings, session: Session) -> None:
    configure(settings, code_max_per_ip_per_hour=3)
    statuses = [
        (await _send_from(settings, "203.0.113.50", f"10.0.0.{n}", f"+7912000{n:04d}")).status_code
        for n in range(5)
    ]
    assert statuses == [200, 200, 200, 429, 429]

"""Profile, invite activation and referral list endpoints over HTTP."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import httpx
import pytest

from tests.helpers import api_login, bearer


@pytest.fixture
async def two_users(client: httpx.AsyncClient) -> tuple[dict, dict]:
    return await api_login(client, "+79123456789"), await api_login(client, "+79001112233")


async def test_profile_requires_a_token(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer rfa_nope"}, {"Authorization": "Basic abc"}):
        for method, path in [
            ("GET", "/api/v1/profile"),
            ("PATCH", "/api/v1/profile"),
            ("POST", "/api/v1/profile/invite"),
            ("GET", "/api/v1/profile/referrals"),
        ]:
            response = await client.request(method, path, headers=headers, json={})
            assert response.status_code == 401, (method, path, headers)
            assert response.json()["code"] == "not_authenticated"
            assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_activation_and_referrals(client: httpx.AsyncClient, two_users: tuple[dict, dict]) -> None:
    alice, bob = two_users
    code = alice["user"]["invite_code"]
    response = await client.post(
        "/api/v1/profile/invite", headers=bearer(bob["access_token"]), json={"invite_code": f" {code.lower()} "}
    )
    assert response.status_code == 200
    assert response.json()["activated_invite_code"] == code
    assert response.json()["invited_by"] == "+79123456789"

    profile = (await client.get("/api/v1/profile", headers=bearer(alice["access_token"]))).json()
    assert profile["referrals_count"] == 1
    assert [r["phone"] for r in profile["referrals"]] == ["+79001112233"]
    assert set(profile) == {
        "id",
        "phone",
        "invite_code",
        "activated_invite_code",
        "invited_by",
        "inviter_deleted",
        "name",
        "email",
        "referrals",
        "referrals_count",
        "created_at",
    }
    page = (await client.get("/api/v1/profile/referrals", headers=bearer(alice["access_token"]))).json()
    assert page["total"] == 1 and page["limit"] == 50 and page["offset"] == 0
    assert page["items"][0]["phone"] == "+79001112233" and page["items"][0]["joined_at"]
    # RFC 3339 `date-time` as documented: every timestamp says it is UTC.
    stamps = [page["items"][0]["joined_at"], profile["referrals"][0]["joined_at"], profile["created_at"]]
    assert all(datetime.fromisoformat(s).utcoffset() == timedelta(0) and s.endswith("Z") for s in stamps)


async def test_activation_errors(client: httpx.AsyncClient, two_users: tuple[dict, dict]) -> None:
    alice, bob = two_users
    a, b = bearer(alice["access_token"]), bearer(bob["access_token"])

    async def activate(headers: dict, code: object) -> tuple[int, str]:
        response = await client.post("/api/v1/profile/invite", headers=headers, json={"invite_code": code})
        return response.status_code, response.json()["code"]

    assert await activate(b, "ZZZZZZ") == (404, "invite_code_not_found")
    assert await activate(b, bob["user"]["invite_code"]) == (400, "own_invite_code")
    assert (
        await client.post("/api/v1/profile/invite", headers=b, json={"invite_code": alice["user"]["invite_code"]})
    ).status_code == 200
    assert await activate(a, bob["user"]["invite_code"]) == (409, "referral_cycle")
    assert await activate(b, alice["user"]["invite_code"]) == (409, "invite_already_activated")
    assert await activate(b, "") == (422, "validation_error")
    assert await activate(b, 123456) == (422, "validation_error")


async def test_parallel_activations_over_http(client: httpx.AsyncClient) -> None:
    me = await api_login(client, "+79120000000")
    owners = [await api_login(client, f"+7912000{n:04d}") for n in range(1, 11)]
    responses = await asyncio.gather(
        *(
            client.post(
                "/api/v1/profile/invite",
                headers=bearer(me["access_token"]),
                json={"invite_code": o["user"]["invite_code"]},
            )
            for o in owners
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 9


async def test_edit_profile(client: httpx.AsyncClient, two_users: tuple[dict, dict]) -> None:
    headers = bearer(two_users[0]["access_token"])
    response = await client.patch(
        "/api/v1/profile", headers=headers, json={"name": "  Anna   K ", "email": "Anna@Example.COM"}
    )
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["email"]) == ("Anna K", "Anna@example.com")
    only_name = await client.patch("/api/v1/profile", headers=headers, json={"name": "Ann"})
    assert only_name.json()["email"] == "Anna@example.com"  # untouched
    cleared = await client.patch("/api/v1/profile", headers=headers, json={"email": None, "name": ""})
    assert (cleared.json()["name"], cleared.json()["email"]) == (None, None)
    bad = await client.patch("/api/v1/profile", headers=headers, json={"email": "not-an-email"})
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_email")
    # The name's length is counted as it will be stored: whitespace runs collapsed.
    too_long = await client.patch("/api/v1/profile", headers=headers, json={"name": "x" * 101})
    assert too_long.status_code == 422
    assert too_long.json() == {"detail": "The name must be at most 100 characters.", "code": "invalid_name"}
    assert (await client.get("/api/v1/profile", headers=headers)).json()["name"] is None  # nothing written
    spaced = await client.patch("/api/v1/profile", headers=headers, json={"name": "x " * 50 + " " * 60})
    assert spaced.status_code == 200 and len(spaced.json()["name"]) == 99
    assert (await client.get("/api/v1/profile", headers=headers)).json()["name"] == spaced.json()["name"]
    extra = await client.patch("/api/v1/profile", headers=headers, json={"phone": "+79990000000"})
    assert (extra.status_code, extra.json()["code"]) == (422, "validation_error")


async def test_control_characters_are_dropped_from_names(
    client: httpx.AsyncClient, two_users: tuple[dict, dict]
) -> None:
    # A NUL byte in the name was a 500 on PostgreSQL (text cannot hold NUL).
    headers = bearer(two_users[0]["access_token"])
    for typed, stored in [("A\x00nna", "Anna"), ("\x1b[31mAnna\x7f", "[31mAnna"), ("Anna\tK\x85\n", "Anna K")]:
        response = await client.patch("/api/v1/profile", headers=headers, json={"name": typed})
        assert (response.status_code, response.json()["name"]) == (200, stored), typed
        profile = await client.get("/api/v1/profile", headers=headers)
        assert profile.json()["name"] == stored
    blank = await client.patch("/api/v1/profile", headers=headers, json={"name": "\x00\x01"})
    assert (blank.status_code, blank.json()["name"]) == (200, None)


async def test_referral_paging_parameters(client: httpx.AsyncClient, two_users: tuple[dict, dict]) -> None:
    headers = bearer(two_users[0]["access_token"])
    ok = await client.get("/api/v1/profile/referrals?limit=200&offset=5", headers=headers)
    assert ok.status_code == 200 and (ok.json()["limit"], ok.json()["offset"]) == (200, 5)
    for query in (
        "limit=201",
        "limit=0",
        "offset=-1",
        "limit=abc",
        "limit=99999999999999999999999",
        "limit=10&page=2",  # unknown parameters are rejected, like unknown body fields
        "offset=5&=null",
    ):
        response = await client.get(f"/api/v1/profile/referrals?{query}", headers=headers)
        assert (response.status_code, response.json()["code"]) == (422, "validation_error"), query

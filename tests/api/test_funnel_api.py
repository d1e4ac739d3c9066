"""The invite funnel over HTTP: the API's share link (a redirect that counts once per browser per day), sign-ups
that arrive with a code, activations, and GET /api/v1/profile/invite-stats."""

from __future__ import annotations

import httpx

from referral_app.core.config import Settings
from tests.helpers import api_login, bearer, configure

BROWSER = {
    "User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Safari/604.1"
}


async def stats(client: httpx.AsyncClient, token: str) -> dict:
    response = await client.get("/api/v1/profile/invite-stats", headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()


async def test_share_link_redirects_and_counts_once_per_browser(client: httpx.AsyncClient) -> None:
    anna = await api_login(client, "+79123456789")
    code = anna["user"]["invite_code"]
    opened = await client.get(f"/api/v1/share/{code.lower()}", headers=BROWSER)
    assert opened.status_code == 303 and opened.headers["location"] == f"/?invite={code.lower()}"
    assert opened.cookies["referral_opened"].endswith(f"-{code}")
    assert (await client.get(f"/api/v1/share/{code}", headers=BROWSER)).status_code == 303  # the cookie is sent
    await client.get(f"/api/v1/share/{code}")  # httpx's own User-Agent: a bot
    assert (await stats(client, anna["access_token"]))["all_time"]["opened"] == 1
    client.cookies.clear()  # another browser
    await client.get(f"/api/v1/share/{code}", headers=BROWSER)
    assert (await stats(client, anna["access_token"]))["last_7_days"] == {
        "opened": 2,
        "signed_up": 0,
        "activated": 0,
    }


async def test_an_unknown_code_is_answered_like_a_known_one(client: httpx.AsyncClient) -> None:
    anna = await api_login(client, "+79123456789")
    known = await client.get(f"/api/v1/share/{anna['user']['invite_code']}", headers=BROWSER)
    client.cookies.clear()
    unknown = await client.get("/api/v1/share/ZZZZZZ", headers=BROWSER)
    assert (known.status_code, unknown.status_code) == (303, 303)
    assert known.content == unknown.content
    assert len(known.cookies["referral_opened"]) == len(unknown.cookies["referral_opened"])
    assert unknown.headers["location"] == "/?invite=ZZZZZZ"
    too_long = await client.get("/api/v1/share/" + "A" * 40, headers=BROWSER)
    assert too_long.status_code == 422 and too_long.json()["code"] == "validation_error"


async def test_sign_ups_with_a_code_and_activations_are_counted(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    configure(settings, code_resend_cooldown_seconds=0)
    anna = await api_login(client, "+79123456789")
    code = anna["user"]["invite_code"]
    sent = await client.post("/api/v1/auth/code", json={"phone": "+79001112233"})
    body = {"phone": "+79001112233", "code": sent.json()["debug_code"], "invite_code": code}
    boris = (await client.post("/api/v1/auth/token", json=body)).json()
    assert boris["is_new_user"]
    # Signing in again with the code is no new sign-up.
    sent = await client.post("/api/v1/auth/code", json={"phone": "+79123456789"})
    again = {"phone": "+79123456789", "code": sent.json()["debug_code"], "invite_code": code}
    assert (await client.post("/api/v1/auth/token", json=again)).status_code == 200
    activated = await client.post(
        "/api/v1/profile/invite", json={"invite_code": code}, headers=bearer(boris["access_token"])
    )
    assert activated.status_code == 200
    counted = await stats(client, anna["access_token"])
    assert counted == {
        period: {"opened": 0, "signed_up": 1, "activated": 1}
        for period in ("last_7_days", "last_30_days", "all_time")
    }
    assert (await stats(client, boris["access_token"]))["all_time"] == {
        "opened": 0,
        "signed_up": 0,
        "activated": 0,
    }


async def test_invite_stats_need_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/profile/invite-stats")
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"

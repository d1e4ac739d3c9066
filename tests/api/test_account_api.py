"""Sessions, logout scopes, export and deletion over the JSON API, every error answered as documented."""

from __future__ import annotations

import httpx

from referral_app.api.main import create_api
from referral_app.core.config import Settings
from referral_app.limits import EXPORTS_PER_HOUR
from tests.helpers import api_login, bearer, configure

ANNA, BORIS = "+79123456789", "+79001112233"
PHONE_UA = {"User-Agent": "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36"}


async def login_with(client: httpx.AsyncClient, phone: str, headers: dict[str, str]) -> str:
    sent = await client.post("/api/v1/auth/code", json={"phone": phone})
    assert sent.status_code == 200, sent.text
    answer = await client.post(
        "/api/v1/auth/token", json={"phone": phone, "code": sent.json()["debug_code"]}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


async def test_sessions_listed_and_one_revoked(client: httpx.AsyncClient, settings) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import configure

    configure(settings, code_resend_cooldown_seconds=0, code_max_per_phone_per_hour=20)
    phone = await login_with(client, ANNA, PHONE_UA)
    laptop = await login_with(client, ANNA, {"User-Agent": "curl/8.5.0"})
    listed = await client.get("/api/v1/auth/sessions", headers=bearer(laptop))
    assert listed.status_code == 200
    rows = listed.json()
    assert [(r["device_label"], r["client_ip"], r["current"]) for r in rows] == [
        ("curl/8.5.0", "203.0.113.*", True),
        ("Chrome on Android", "203.0.113.*", False),
    ]
    assert set(rows[0]) == {
        "id",
        "device_id",
        "device_label",
        "client_ip",
        "created_at",
        "last_used_at",
        "current",
    }
    assert rows[0]["device_id"] != rows[1]["device_id"]  # signed in on two devices
    assert rows[0]["created_at"].endswith("Z")
    gone = await client.delete(f"/api/v1/auth/sessions/{rows[1]['id']}", headers=bearer(laptop))
    assert gone.status_code == 204
    assert (await client.get("/api/v1/profile", headers=bearer(phone))).json()["code"] == "not_authenticated"
    again = await client.delete(f"/api/v1/auth/sessions/{rows[1]['id']}", headers=bearer(laptop))
    assert (again.status_code, again.json()["code"]) == (404, "session_not_found")


async def test_another_users_session_answers_404(client: httpx.AsyncClient) -> None:
    anna = (await api_login(client, ANNA))["access_token"]
    boris = (await api_login(client, BORIS))["access_token"]
    boris_id = (await client.get("/api/v1/auth/sessions", headers=bearer(boris))).json()[0]["id"]
    refused = await client.delete(f"/api/v1/auth/sessions/{boris_id}", headers=bearer(anna))
    assert refused.status_code == 404
    assert refused.json() == {
        "detail": "You have no such session (it may have ended already).",
        "code": "session_not_found",
    }
    assert (await client.get("/api/v1/profile", headers=bearer(boris))).status_code == 200
    for bad in ("abc", "0", "-1", str(2**31), str(2**63)):
        invalid = await client.delete(f"/api/v1/auth/sessions/{bad}", headers=bearer(anna))
        assert (invalid.status_code, invalid.json()["code"]) == (422, "validation_error"), bad
    for method, path in [("GET", "/api/v1/auth/sessions"), ("DELETE", f"/api/v1/auth/sessions/{boris_id}")]:
        anonymous = await client.request(method, path)
        assert (anonymous.status_code, anonymous.json()["code"]) == (401, "not_authenticated")


async def test_logout_scopes(client: httpx.AsyncClient, settings) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import configure

    configure(settings, code_resend_cooldown_seconds=0, code_max_per_phone_per_hour=20)
    first, second, third = [await login_with(client, ANNA, {}) for _ in range(3)]

    async def alive(token: str) -> bool:
        return (await client.get("/api/v1/profile", headers=bearer(token))).status_code == 200

    others = await client.post("/api/v1/auth/logout", headers=bearer(third), json={"scope": "others"})
    assert others.status_code == 204
    assert [await alive(t) for t in (first, second, third)] == [False, False, True]
    fourth = await login_with(client, ANNA, {})
    everything = await client.post("/api/v1/auth/logout", headers=bearer(fourth), json={"scope": "all"})
    assert everything.status_code == 204
    assert [await alive(t) for t in (third, fourth)] == [False, False]
    fifth, sixth = await login_with(client, ANNA, {}), await login_with(client, ANNA, {})
    assert (await client.post("/api/v1/auth/logout", headers=bearer(fifth))).status_code == 204  # no body
    assert [await alive(t) for t in (fifth, sixth)] == [False, True]
    for body in ({"scope": "everything"}, {"scope": None}, {"scope": "all", "extra": 1}, [1]):
        bad = await client.post("/api/v1/auth/logout", headers=bearer(sixth), json=body)
        assert (bad.status_code, bad.json()["code"]) == (422, "validation_error"), body
    assert await alive(sixth)
    anonymous = await client.post("/api/v1/auth/logout", json={"scope": "all"})
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "not_authenticated")


async def test_export_is_a_json_download_of_my_data(client: httpx.AsyncClient) -> None:
    anna = await api_login(client, ANNA)
    boris = await api_login(client, BORIS)
    await client.post(
        "/api/v1/profile/invite",
        headers=bearer(boris["access_token"]),
        json={"invite_code": anna["user"]["invite_code"]},
    )
    exported = await client.get("/api/v1/profile/export", headers=bearer(anna["access_token"]))
    assert exported.status_code == 200
    assert exported.headers["content-disposition"].startswith("attachment")
    data = exported.json()
    assert data["phone"] == ANNA and data["activated"] is None
    assert [r["phone"] for r in data["referrals"]] == [BORIS]
    assert len(data["sessions"]) == 1 and data["sessions"][0]["client_ip"] == "203.0.113.*"
    assert {"login", "new_user"} <= {e["event"] for e in data["audit_events"]}
    assert (await client.get("/api/v1/profile/export")).json()["code"] == "not_authenticated"


async def test_exports_are_throttled_and_show_strangers_as_their_network(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    anna = await api_login(client, ANNA)
    transport = httpx.ASGITransport(app=create_api(), client=("198.51.100.23", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as stranger:
        configure(settings, code_resend_cooldown_seconds=0)
        assert (await stranger.post("/api/v1/auth/code", json={"phone": ANNA})).status_code == 200
    answers = [
        await client.get("/api/v1/profile/export", headers=bearer(anna["access_token"]))
        for _ in range(EXPORTS_PER_HOUR + 1)
    ]
    assert [a.status_code for a in answers] == [200] * EXPORTS_PER_HOUR + [429]
    data = answers[0].json()
    addresses = {e["client_ip"] for e in data["audit_events"]}
    assert addresses == {"203.0.113.*", "198.51.100.*"} and "198.51.100.23" not in answers[0].text
    assert [a.json()["exports"] for a in answers[:-1]] == list(range(EXPORTS_PER_HOUR))
    refused = answers[-1]
    assert refused.json()["code"] == "rate_limited"
    assert 0 < int(refused.headers["Retry-After"]) <= 3600 and refused.json()["retry_after"] == int(
        refused.headers["Retry-After"]
    )


async def test_delete_with_a_code(client: httpx.AsyncClient, settings) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import configure

    configure(settings, code_resend_cooldown_seconds=0, code_max_per_phone_per_hour=20)
    anna = await api_login(client, ANNA)
    boris = await api_login(client, BORIS)
    anna_code = anna["user"]["invite_code"]
    await client.post(
        "/api/v1/profile/invite", headers=bearer(boris["access_token"]), json={"invite_code": anna_code}
    )
    token = bearer(anna["access_token"])
    for body in ({}, {"code": ""}, {"code": "1" * 17}, {"code": 1234}, None):
        bad = await client.request("DELETE", "/api/v1/profile", headers=token, json=body)
        assert (bad.status_code, bad.json()["code"]) == (422, "validation_error"), body
    no_code = await client.request("DELETE", "/api/v1/profile", headers=token, json={"code": "1234"})
    assert (no_code.status_code, no_code.json()["code"], no_code.json()["attempts_left"]) == (
        400,
        "invalid_code",
        0,
    )
    code = (await client.post("/api/v1/auth/code", json={"phone": ANNA})).json()["debug_code"]
    wrong = await client.request(
        "DELETE", "/api/v1/profile", headers=token, json={"code": "0000" if code != "0000" else "1111"}
    )
    assert (wrong.status_code, wrong.json()["code"]) == (400, "invalid_code")
    anonymous = await client.request("DELETE", "/api/v1/profile", json={"code": code})
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "not_authenticated")
    assert (await client.get("/api/v1/profile", headers=token)).status_code == 200  # still there

    deleted = await client.request("DELETE", "/api/v1/profile", headers=token, json={"code": code})
    assert deleted.status_code == 204
    assert (await client.get("/api/v1/profile", headers=token)).json()["code"] == "not_authenticated"
    boris_profile = (await client.get("/api/v1/profile", headers=bearer(boris["access_token"]))).json()
    assert (
        boris_profile["activated_invite_code"],
        boris_profile["invited_by"],
        boris_profile["inviter_deleted"],
    ) == (
        anna_code,
        None,
        True,
    )
    reborn = await api_login(client, ANNA)
    assert reborn["is_new_user"] is True and reborn["user"]["invite_code"] != anna_code
    retired = await client.post(
        "/api/v1/profile/invite", headers=bearer(reborn["access_token"]), json={"invite_code": anna_code}
    )
    assert (retired.status_code, retired.json()["code"]) == (404, "invite_code_not_found")


async def test_new_endpoints_are_documented_with_every_error(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    documented = {
        ("get", "/api/v1/auth/sessions"): {"401"},
        ("delete", "/api/v1/auth/sessions/{session_id}"): {"401", "403", "404", "422"},
        ("post", "/api/v1/auth/logout"): {"401", "403", "422"},
        ("get", "/api/v1/profile/export"): {"401", "403", "429"},
        ("delete", "/api/v1/profile"): {"400", "401", "403", "422", "429"},
    }
    for (method, path), statuses in documented.items():
        operation = paths[path][method]
        assert statuses <= set(operation["responses"]), (method, path, operation["responses"].keys())
        assert operation["description"]
    delete_errors = paths["/api/v1/profile"]["delete"]["responses"]
    assert set(delete_errors["400"]["content"]["application/json"]["examples"]) == {"invalid_code"}
    assert set(delete_errors["429"]["content"]["application/json"]["examples"]) == {
        "too_many_attempts",
        "rate_limited",
    }
    logout_examples = paths["/api/v1/auth/logout"]["post"]["requestBody"]["content"]["application/json"][
        "examples"
    ]
    assert set(logout_examples) == {"current", "others", "all"}

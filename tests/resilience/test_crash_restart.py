"""`kill -9` of the whole server (make, the Reflex supervisor, its worker) in the middle of a storm of
sign-ins and invite activations, then `make run` again on the same database and port, on SQLite and on
PostgreSQL. Whatever the server confirmed must still be there; whatever it did not finish must have left
nothing half-done."""

from __future__ import annotations

import asyncio
import collections
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import api_login, bearer
from tests.resilience.conftest import postgres_database
from tests.support.invariants import check_invariants
from tests.support.ports import port_is_closed
from tests.support.server import RunningServer, kill_hard

pytestmark = pytest.mark.server


@pytest.fixture(
    params=[pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql")],
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crash.db'}"
    else:
        with postgres_database() as url:
            yield url


KILL_AFTER = 30  # confirmed activations before the kill


async def test_kill_9_mid_flight_then_restart(
    servers: Callable[..., RunningServer], database_url: str, record_property: Callable
) -> None:
    env = {
        "DATABASE_URL": database_url,
        "CODE_MAX_PER_IP_PER_HOUR": "100000",
        "SMS_DELAY_MIN": "0",
        "SMS_DELAY_MAX": "0.3",
    }
    server = servers(**env)
    port = int(server.base_url.rsplit(":", 1)[1])
    limits = httpx.Limits(max_connections=200)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30, limits=limits) as http:
        # Before the crash: 30 users in a referral tree, a logged-out token, an edited profile, and a code
        # sent but not used yet.
        users = await asyncio.gather(*(api_login(http, f"+7917000{i:04d}") for i in range(30)))
        for i, user in enumerate(users[1:], start=1):
            parent = users[(i - 1) // 3]["user"]["invite_code"]
            activated = await http.post(
                "/api/v1/profile/invite", json={"invite_code": parent}, headers=bearer(user["access_token"])
            )
            assert activated.status_code == 200, activated.text
        edited = await http.patch(
            "/api/v1/profile", json={"name": "Anna"}, headers=bearer(users[0]["access_token"])
        )
        assert edited.status_code == 200
        logged_out = (await api_login(http, "+79170001000"))["access_token"]
        assert (await http.post("/api/v1/auth/logout", headers=bearer(logged_out))).status_code == 204
        pending = await http.post("/api/v1/auth/code", json={"phone": "+79170002000"})
        assert pending.status_code == 200

        # The storm: 40 clients sign in new numbers and activate random codes, as fast as they can.
        confirmed_tokens: list[str] = []
        confirmed_invites: list[tuple[str, str]] = []
        enough = asyncio.Event()
        outcomes: collections.Counter = collections.Counter()

        async def client(n: int) -> None:
            attempt = 0
            while True:  # until the kill: then every client's next request fails at the latest
                attempt += 1
                phone = f"+7918{n:03d}{attempt:04d}"
                try:
                    sent = await http.post("/api/v1/auth/code", json={"phone": phone})
                    outcomes["code", sent.status_code] += 1
                    issued = await http.post(
                        "/api/v1/auth/token", json={"phone": phone, "code": sent.json()["debug_code"]}
                    )
                    outcomes["token", issued.status_code] += 1
                    assert issued.status_code == 200, issued.text
                    token = issued.json()["access_token"]
                    confirmed_tokens.append(token)
                    target = random.choice(users)["user"]["invite_code"]
                    activated = await http.post(
                        "/api/v1/profile/invite", json={"invite_code": target}, headers=bearer(token)
                    )
                    outcomes["invite", activated.status_code] += 1
                    assert activated.status_code == 200, activated.text
                    confirmed_invites.append((token, target))
                    if len(confirmed_invites) >= KILL_AFTER:
                        enough.set()
                except httpx.TransportError as error:  # the server is gone: stop
                    outcomes["cut off", type(error).__name__] += 1
                    return

        storm = [asyncio.create_task(client(n)) for n in range(40)]
        # Kill once enough is confirmed, with 40 requests in flight. A client ends early only when something
        # went wrong: an error, or a request that timed out (the client's timeout is what guards a hang).
        reached = asyncio.create_task(enough.wait())
        await asyncio.wait([reached, *storm], return_when=asyncio.FIRST_COMPLETED)
        if ended := [task for task in storm if task.done()]:
            reached.cancel()
            await ended[0]  # re-raises what went wrong in that client
            raise AssertionError(f"a client was cut off before the kill: {outcomes}")
        await asyncio.to_thread(kill_hard, server)
        # No flag to stop them: a client whose answer arrived just before the kill would see it and end
        # without meeting the kill (39 of 40 cut off, now and then). A kill that failed shows as a timeout.
        await asyncio.wait_for(asyncio.gather(*storm), timeout=120)
        assert port_is_closed(port)
        # Every client was cut off by the kill (RemoteProtocolError/ReadError: mid-request; ConnectError: after).
        assert sum(n for (kind, _), n in outcomes.items() if kind == "cut off") == 40, outcomes

        # Nothing half-done, before the restart touches anything.
        before = check_invariants(database_url)

        started = time.monotonic()
        restarted = await asyncio.to_thread(servers, port=port, **env)
        restart_seconds = time.monotonic() - started
        record_property("restart_seconds", round(restart_seconds, 1))
        assert restarted.base_url == server.base_url

        # Everything confirmed is there: tokens authenticate, activations stand, edits and logouts stick.
        for user in users:
            profile = await http.get("/api/v1/profile", headers=bearer(user["access_token"]))
            assert profile.status_code == 200, profile.text
        root = (await http.get("/api/v1/profile", headers=bearer(users[0]["access_token"]))).json()
        assert root["name"] == "Anna"
        assert {r["phone"] for r in root["referrals"]} >= {u["user"]["phone"] for u in users[1:4]}
        for token in confirmed_tokens:
            assert (await http.get("/api/v1/profile", headers=bearer(token))).status_code == 200
        for token, code in confirmed_invites:
            profile = (await http.get("/api/v1/profile", headers=bearer(token))).json()
            assert profile["activated_invite_code"] == code
        assert (await http.get("/api/v1/profile", headers=bearer(logged_out))).status_code == 401
        # The code sent before the crash still signs in (its HMAC key is kept in the database).
        issued = await http.post(
            "/api/v1/auth/token", json={"phone": "+79170002000", "code": pending.json()["debug_code"]}
        )
        assert issued.status_code == 200, issued.text

    after = check_invariants(database_url)
    assert after["users"] == before["users"] + 1 and after["login_codes"] == before["login_codes"]
    print(f"restart took {restart_seconds:.1f} s; storm: {dict(outcomes)}")

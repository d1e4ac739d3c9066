"""The database goes away under a running server and comes back: a throw-away PostgreSQL cluster (initdb +
pg_ctl in a temporary directory, on its own port) is stopped with `pg_ctl stop -m immediate` (a crash) and
`-m fast` (an administrator's shutdown), while clients keep calling. The API must answer 503
`service_unavailable` as JSON, without hanging, and recover on its own once the database is back. How fast
it answers and recovers is printed and recorded, not asserted (a busy machine is slower; `make bench`)."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable

import httpx
import pytest

from tests.support.postgres import TempPostgres
from tests.support.server import RunningServer

pytestmark = pytest.mark.server

RECOVERY_CHECKS = 50  # 503 answers allowed once the database is back; the time it took is printed


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["code"] == "service_unavailable"
    assert response.headers["Retry-After"] == "5"


async def test_outage_answers_503_fast_and_the_api_recovers_by_itself(
    own_postgres: TempPostgres, servers: Callable[..., RunningServer], record_property: Callable
) -> None:
    server = servers(
        DATABASE_URL=own_postgres.create_database("app"),
        # The storm below comes from one address: its limits are not what this test is about.
        CODE_MAX_PER_IP_PER_HOUR="100000",
        VERIFY_MAX_PER_IP_PER_HOUR="100000",
        INVITE_MAX_MISSES_PER_USER_PER_HOUR="100000",
        INVITE_MAX_MISSES_PER_IP_PER_HOUR="100000",
        SMS_MAX_PER_HOUR="100000",
        SMS_MAX_PER_COUNTRY_PER_HOUR="100000",
        SMS_DELAY_MIN="0",
        SMS_DELAY_MAX="0.2",
    )
    pid = server.process.pid
    # Every request gets an answer well before the client's timeout: the server gives up on the database
    # itself (its connect timeout is 5 s) instead of hanging.
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        sent = await http.post("/api/v1/auth/code", json={"phone": "+79170000001"})
        issued = await http.post(
            "/api/v1/auth/token", json={"phone": "+79170000001", "code": sent.json()["debug_code"]}
        )
        token = issued.json()["access_token"]

        calls: dict[str, Callable] = {
            "send-code": lambda n: http.post("/api/v1/auth/code", json={"phone": f"+7917100{n:04d}"}),
            "token": lambda n: http.post("/api/v1/auth/token", json={"phone": f"+7917200{n:04d}", "code": "0000"}),
            "profile": lambda n: http.get("/api/v1/profile", headers=bearer(token)),
            "invite": lambda n: http.post(
                "/api/v1/profile/invite", json={"invite_code": "ZZZZZZ"}, headers=bearer(token)
            ),
            "health": lambda n: http.get("/api/health"),
        }
        worst: dict[str, float] = collections.defaultdict(float)
        seen: collections.Counter = collections.Counter()
        numbers = iter(range(10_000))
        recovered: dict[str, float] = {}

        async def timed(name: str) -> httpx.Response:
            started = time.monotonic()
            response = await calls[name](next(numbers))
            worst[name] = max(worst[name], time.monotonic() - started)
            return response

        for mode in ("immediate", "fast"):
            # Clients keep calling while the database stops: every answer is a proper one, never a 500.
            traffic = True

            async def client(name: str) -> None:
                while traffic:
                    response = await timed(name)
                    body = response.json()  # JSON, never an HTML error page
                    seen[mode, name, response.status_code, body.get("code")] += 1
                    assert response.status_code in (200, 400, 404, 503), response.text

            clients = [asyncio.create_task(client(name)) for name in calls for _ in range(3)]
            await asyncio.sleep(1)
            await asyncio.to_thread(own_postgres.stop, mode)
            await asyncio.sleep(1.5)
            traffic = False
            await asyncio.gather(*clients)

            # The database is down: each endpoint says so at once.
            for name in calls:
                assert_unavailable(await timed(name))
                assert_unavailable(await timed(name))

            # It comes back: the same server process recovers without a restart.
            await asyncio.to_thread(own_postgres.start)
            # pg_ctl has waited until the database accepts connections; the server's pool then replaces its
            # dead connections as it meets them, so only a few answers may still be 503 (counted, not timed).
            started = time.monotonic()
            failed_checks = 0
            while (health := await http.get("/api/health")).status_code != 200:
                assert_unavailable(health)
                failed_checks += 1
                assert failed_checks <= RECOVERY_CHECKS, f"still down after {failed_checks} health checks"
                await asyncio.sleep(0.1)
            recovered[mode] = round(time.monotonic() - started, 2)
            record_property(f"failed_health_checks_after_{mode}", failed_checks)
            record_property(f"recovered_after_{mode}_seconds", recovered[mode])
            profile = await http.get("/api/v1/profile", headers=bearer(token))
            assert profile.status_code == 200 and profile.json()["phone"] == "+79170000001"
            fresh = await http.post("/api/v1/auth/code", json={"phone": f"+7917300000{mode == 'fast':d}"})
            assert fresh.status_code == 200, fresh.text
            login = await http.post(
                "/api/v1/auth/token",
                json={"phone": fresh.json()["phone"], "code": fresh.json()["debug_code"]},
            )
            assert login.status_code == 200, login.text

    assert server.process.poll() is None and server.process.pid == pid  # never restarted
    for mode in ("immediate", "fast"):
        for name in calls:
            assert seen[mode, name, 503, "service_unavailable"] > 0, seen  # the outage was seen under load
    record_property("slowest_answer_seconds", round(max(worst.values()), 2))
    print(f"slowest answer: {max(worst.values()):.2f} s; back to 200 after restart: {recovered} s; {dict(seen)}")

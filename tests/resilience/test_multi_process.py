"""Two real server processes (A and B, each `make run`) sharing one PostgreSQL database and one Redis.

Codes, attempts, cooldowns and hourly limits live in the database, so they must hold across processes; the
web app's Reflex state lives in Redis, so a browser whose websocket moves to the other process (through a
load balancer, here `TcpProxy`) carries on where it was."""

from __future__ import annotations

import asyncio
import collections
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from playwright.async_api import Browser, Page, expect

from referral_app.services.phones import mask_phone
from referral_app.web.state.login import SEND_STALE_AFTER_SECONDS
from tests.helpers import Stopwatch
from tests.resilience.conftest import postgres_database, require_redis, running_servers
from tests.support.proxy import TcpProxy
from tests.support.reflex_internals import forget_reflex_sockets
from tests.support.server import RunningServer, kill_hard, stop_gracefully, stop_server

pytestmark = pytest.mark.server

WAIT = 20_000  # ms: expectations across a failover or a reconnect, on a busy machine

IP_LIMIT = 6


def port_of(server: RunningServer) -> int:
    return int(server.base_url.rsplit(":", 1)[1])


@dataclass
class Cluster:
    a: RunningServer
    b: RunningServer
    proxy: TcpProxy
    database_url: str
    redis_url: str
    env: dict[str, str]
    start: Callable[..., RunningServer]


@pytest.fixture(scope="module")
def cluster(server_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A and B on one database and one Redis, one worker each. The front end of both is built for the proxy's
    port, so a page loaded through the proxy talks to whichever process the proxy points at.

    A's simulated SMS gateway is slow (2.5 s), so a send can be caught in flight when A goes away; B's is
    quick, to keep the API tests short."""
    redis_url = require_redis()
    with (
        postgres_database() as database_url,
        running_servers(server_root, tmp_path_factory.mktemp("cluster")) as start,
    ):
        proxy = TcpProxy(upstream=0)
        try:
            env = {
                "DATABASE_URL": database_url,
                "REFLEX_REDIS_URL": redis_url,
                "GRANIAN_WORKERS": "1",
                "REFLEX_API_URL": f"http://localhost:{proxy.port}",
                "CODE_MAX_PER_IP_PER_HOUR": str(IP_LIMIT),
            }
            a = start(**env, SMS_DELAY_MIN="2.5", SMS_DELAY_MAX="2.5")
            b = start(**env, SMS_DELAY_MIN="0.1", SMS_DELAY_MAX="0.3")
            proxy.switch(port_of(a))
            yield Cluster(a, b, proxy, database_url, redis_url, env, start)
        finally:
            proxy.close()


def from_ip(ip: str) -> dict[str, str]:
    # The test client is loopback, a trusted proxy by default, so it may say which client it forwards.
    return {"X-Forwarded-For": ip}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def age_login_codes(database_url: str, phone: str, seconds: int) -> None:
    """Move the phone's codes back in time, as if `seconds` had passed (the clock itself is never faked)."""
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "UPDATE login_codes SET created_at = created_at - make_interval(secs => :s),"
                    " expires_at = expires_at - make_interval(secs => :s) WHERE phone = :phone"
                ),
                {"s": seconds, "phone": phone},
            )
    finally:
        engine.dispose()


def count_login_codes(database_url: str, where: str, **params: str) -> int:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(f"SELECT COUNT(*) FROM login_codes WHERE {where}"), params).scalar_one()
    finally:
        engine.dispose()


def test_a_code_sent_by_one_process_logs_in_on_the_other(cluster: Cluster) -> None:
    a, b = cluster.a.base_url, cluster.b.base_url
    anna, ben = "+79160000101", "+79160000102"
    with httpx.Client(timeout=20, headers=from_ip("198.51.100.1")) as http:
        sent = http.post(f"{a}/api/v1/auth/code", json={"phone": anna})
        assert sent.status_code == 200, sent.text
        code = sent.json()["debug_code"]
        wrong = f"{(int(code) + 1) % 10_000:04d}"
        # Wrong tries are counted in the database: one on A and one on B leave 3 attempts, not 4.
        first = http.post(f"{a}/api/v1/auth/token", json={"phone": anna, "code": wrong})
        second = http.post(f"{b}/api/v1/auth/token", json={"phone": anna, "code": wrong})
        assert (first.json()["attempts_left"], second.json()["attempts_left"]) == (4, 3)
        token = http.post(f"{b}/api/v1/auth/token", json={"phone": anna, "code": code})
        assert token.status_code == 200, token.text
        assert token.json()["is_new_user"] is True
        anna_token, anna_invite = token.json()["access_token"], token.json()["user"]["invite_code"]
        # The code is used up everywhere.
        again = http.post(f"{a}/api/v1/auth/token", json={"phone": anna, "code": code})
        assert again.status_code == 400 and again.json()["code"] == "invalid_code"

        # Ben signs in on B and activates Anna's code through A; both processes show the referral.
        ben_code = http.post(f"{b}/api/v1/auth/code", json={"phone": ben}).json()["debug_code"]
        ben_token = http.post(f"{b}/api/v1/auth/token", json={"phone": ben, "code": ben_code}).json()[
            "access_token"
        ]
        activated = http.post(
            f"{a}/api/v1/profile/invite", json={"invite_code": anna_invite}, headers=bearer(ben_token)
        )
        assert activated.status_code == 200 and activated.json()["invited_by"] == anna
        for base in (a, b):
            profile = http.get(f"{base}/api/v1/profile", headers=bearer(anna_token))
            assert profile.status_code == 200
            assert [r["phone"] for r in profile.json()["referrals"]] == [ben]

        # Logging out on B revokes the token on A at once.
        assert http.post(f"{b}/api/v1/auth/logout", headers=bearer(anna_token)).status_code == 204
        refused = http.get(f"{a}/api/v1/profile", headers=bearer(anna_token))
        assert refused.status_code == 401 and refused.json()["code"] == "not_authenticated"


def test_cooldown_and_hourly_phone_limit_count_across_processes(cluster: Cluster) -> None:
    a, b, db = cluster.a.base_url, cluster.b.base_url, cluster.database_url
    phone = "+79160000201"
    with httpx.Client(timeout=20, headers=from_ip("198.51.100.2")) as http:

        def send(base: str) -> httpx.Response:
            return http.post(f"{base}/api/v1/auth/code", json={"phone": phone})

        watch = Stopwatch()
        assert send(a).status_code == 200
        # The 60 s cooldown started on A holds on B (less the real seconds since: A's SMS delay is 2.5 s).
        cooldown = send(b)
        assert cooldown.status_code == 429 and cooldown.json()["code"] == "rate_limited"
        assert 60 - watch.seconds() <= cooldown.json()["retry_after"] <= 60
        assert cooldown.headers["Retry-After"] == str(cooldown.json()["retry_after"])
        # Codes 2–5 of the hour, each after the cooldown, alternating processes.
        for base in (b, a, b, b):
            age_login_codes(db, phone, 61)
            assert send(base).status_code == 200
        age_login_codes(db, phone, 61)
        # The sixth in the hour is refused by either process, for the hour, not the cooldown.
        for base in (a, b):
            limited = send(base)
            assert limited.status_code == 429 and limited.json()["retry_after"] > 3000
    assert count_login_codes(db, "phone = :phone", phone=phone) == 5


async def test_no_process_keeps_a_refusal_the_database_has_lifted(cluster: Cluster) -> None:
    """Each process caches refusals (services/refusal_cache.py); none may refuse what the database allows.

    C's SMS provider fails after 3 s, so its code is withdrawn; A refuses a send in the meantime (the cooldown
    of C's code) and must let the retry through once C withdrew it. A lock refused (and cached) by A and B
    keeps strangers out on both, while the owner's device, whose guard is its own, signs in on A."""
    c = cluster.start(**cluster.env, SMS_SENDER="tests.support.failing_sms:SlowFailingSender")
    try:
        await _refusals_lifted_across_processes(cluster, c)
    finally:
        await asyncio.to_thread(stop_server, c)  # C's work is done: no load on the browser tests after this


async def _refusals_lifted_across_processes(cluster: Cluster, c: RunningServer) -> None:
    a, b = cluster.a.base_url, cluster.b.base_url
    phone = "+79160000601"
    async with httpx.AsyncClient(timeout=30, headers=from_ip("198.51.100.6")) as http:

        def send(base: str) -> Awaitable[httpx.Response]:
            return http.post(f"{base}/api/v1/auth/code", json={"phone": phone})

        failing = asyncio.create_task(send(c.base_url))
        for _ in range(500):  # until C's code is written (a deadline against a hang only)
            if count_login_codes(cluster.database_url, "phone = :phone", phone=phone):
                break
            await asyncio.sleep(0.02)
        for _ in range(3):
            assert (await send(a)).json()["code"] == "rate_limited"  # C's code is on its way
        assert (await failing).json()["code"] == "sms_failed"
        assert (await send(a)).status_code == 200  # at once, on the process that refused

        owner = "+79160000602"
        code = (await http.post(f"{b}/api/v1/auth/code", json={"phone": owner})).json()["debug_code"]
        signed_in = await http.post(f"{b}/api/v1/auth/token", json={"phone": owner, "code": code})
        device = signed_in.json()["device_token"]
        age_login_codes(cluster.database_url, owner, 61)
        code = (await http.post(f"{b}/api/v1/auth/code", json={"phone": owner})).json()["debug_code"]
        wrong = f"{(int(code) + 1) % 10_000:04d}"
        for n in range(10):
            last = await http.post(
                f"{a}/api/v1/auth/token", json={"phone": owner, "code": wrong}, headers=from_ip(f"198.51.101.{n}")
            )
        assert last.json()["code"] == "rate_limited"
        age_login_codes(cluster.database_url, owner, 61)
        code = (await http.post(f"{b}/api/v1/auth/code", json={"phone": owner})).json()["debug_code"]
        for _ in range(3):  # read from the database once, then from each process's cache
            for base in (a, b):
                refused = await http.post(f"{base}/api/v1/auth/token", json={"phone": owner, "code": code})
                assert refused.json()["code"] == "rate_limited"
        body = {"phone": owner, "code": code, "device_token": device}
        owners = await http.post(f"{a}/api/v1/auth/token", json=body)
        assert owners.status_code == 200, owners.text


async def test_parallel_sends_for_one_phone_on_both_processes_issue_one_code(cluster: Cluster) -> None:
    phone = "+79160000301"
    async with httpx.AsyncClient(timeout=30, headers=from_ip("198.51.100.3")) as http:
        responses = await asyncio.gather(
            *(
                http.post(f"{server.base_url}/api/v1/auth/code", json={"phone": phone})
                for server in [cluster.a, cluster.b] * 6
            )
        )
    statuses = collections.Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 429: 11}, statuses
    assert count_login_codes(cluster.database_url, "phone = :phone", phone=phone) == 1


async def test_the_per_ip_limit_counts_across_processes(cluster: Cluster) -> None:
    ip = "198.51.100.4"
    async with httpx.AsyncClient(timeout=30, headers=from_ip(ip)) as http:
        # Twice the hourly limit at once, half through each process, each for another phone.
        responses = await asyncio.gather(
            *(
                http.post(f"{server.base_url}/api/v1/auth/code", json={"phone": f"+7916000{i:04d}"})
                for i, server in enumerate([cluster.a, cluster.b] * IP_LIMIT, start=4000)
            )
        )
        statuses = collections.Counter(r.status_code for r in responses)
        assert statuses == {200: IP_LIMIT, 429: IP_LIMIT}, statuses
        for server in (cluster.a, cluster.b):
            more = await http.post(f"{server.base_url}/api/v1/auth/code", json={"phone": "+79160004999"})
            assert more.status_code == 429 and more.json()["retry_after"] > 3000
    assert count_login_codes(cluster.database_url, "requester_ip = :ip", ip=ip) == IP_LIMIT


# --- the web app ------------------------------------------------------------------------------------------


async def reflex_session(page: Page) -> str:
    """The Reflex client token: it names the page's state in Redis."""
    return await page.evaluate("() => window.sessionStorage.getItem('token')")


async def resend_seconds(page: Page) -> int:
    text = await page.locator("#resend-code").text_content() or ""
    match = re.search(r"(\d+) с", text)
    assert match, text
    return int(match.group(1))


async def test_the_web_app_follows_its_websocket_to_the_other_process(cluster: Cluster, browser: Browser) -> None:
    """Through the proxy: A stops (a deploy) while Anna is half-way through signing in and Ben's SMS is on
    its way; the proxy sends everyone to B. Then B crashes (kill -9) and a new process takes over."""
    proxy, anna_phone, ben_phone = cluster.proxy, "+79160000501", "+79160000502"
    pages = []
    for _ in range(2):
        context = await browser.new_context(base_url=f"http://127.0.0.1:{proxy.port}")
        context.set_default_timeout(20_000)
        pages.append(await context.new_page())
    anna, ben = pages

    await anna.goto("/")
    await anna.fill("#phone-input", anna_phone)
    await anna.click("#send-code")
    await expect(anna.locator("#code-input")).to_be_visible(timeout=WAIT)
    code = re.findall(r"\d{4}", await anna.locator("#demo-code").text_content() or "")[-1]
    anna_session = await reflex_session(anna)

    await ben.goto("/")
    await ben.fill("#phone-input", ben_phone)
    await ben.click("#send-code")
    await expect(ben.locator("#send-code")).to_have_text("Отправляем код…", timeout=WAIT)  # A: 2.5 s
    ben_session = await reflex_session(ben)

    # A deploy: A stops gracefully with Ben's send in flight; the balancer moves everyone to B.
    await asyncio.to_thread(stop_gracefully, cluster.a)
    if "panicked" in cluster.a.log():
        # granian 2.8.7 sometimes panics while stopping a worker with open websockets (upstream issues
        # emmett-framework/granian#799 and #884), before Reflex deletes its websocket records from Redis; B would
        # then take each session for a duplicate and start it afresh. Do the deletion a clean stop does, so this
        # test checks the app's state in Redis rather than that upstream bug.
        forget_reflex_sockets(cluster.redis_url, anna_session, ben_session)
        print("granian panicked while stopping A; its websocket records were removed by the test")
    proxy.switch(port_of(cluster.b))
    proxy.drop()

    # Anna's half-finished sign-in lives on in Redis: B continues the countdown and takes her code.
    before = await resend_seconds(anna)
    await expect(anna.locator("#resend-code")).not_to_have_text(re.compile(f"через {before} с"), timeout=WAIT)
    assert 0 < await resend_seconds(anna) < before
    await anna.fill("#code-input", code)
    await expect(anna.locator("#profile-phone")).to_have_text(
        "+7 916 000-05-01", timeout=WAIT
    )  # as people write it
    assert await reflex_session(anna) == anna_session  # the same Reflex session, now served by B
    assert f"registered {mask_phone(anna_phone)}" in cluster.b.log()
    assert f"registered {mask_phone(anna_phone)}" not in cluster.a.log()

    # Ben's send died with A. The "Sending code…" flag in Redis must not block him forever.
    await expect(ben.locator("#send-code")).to_have_text(
        "Получить код", timeout=(SEND_STALE_AFTER_SECONDS + 10) * 1000
    )
    await expect(ben.locator("#send-code")).to_be_enabled(timeout=WAIT)
    await ben.click("#send-code")
    # A may have issued his code before it stopped: then B explains the cooldown; else B sends a new code.
    outcome = ben.locator("#code-input").or_(ben.locator("#phone-error", has_text="Слишком много запросов"))
    await expect(outcome).to_be_visible(timeout=WAIT)

    # A crash: B is killed with -9 and a fresh process takes its place behind the balancer.
    replacement = await asyncio.to_thread(cluster.start, **cluster.env)
    proxy.switch(port_of(replacement))
    await asyncio.to_thread(kill_hard, cluster.b)
    proxy.drop()
    # Anna's signed-in page keeps working without a reload: it reconnects (switching the language takes a
    # round trip to the server), and her edit reaches the new process and is saved.
    await anna.locator("#language-switch").get_by_role("radio", name="EN").click()
    await expect(anna.locator("h1")).to_have_text("Your profile", timeout=WAIT)
    await anna.fill("#name-input", "Anna")
    await anna.click("#save-details")
    token = await anna.evaluate("() => JSON.parse(JSON.stringify(localStorage.getItem('referral_token')))")
    async with httpx.AsyncClient(base_url=replacement.base_url, timeout=10) as http:
        for _ in range(80):
            profile = (await http.get("/api/v1/profile", headers=bearer(token))).json()
            if profile["name"] == "Anna":
                break
            await asyncio.sleep(0.25)
        assert profile["name"] == "Anna", profile
    await anna.reload()
    await expect(anna.locator("#profile-phone")).to_have_text(
        "+7 916 000-05-01", timeout=WAIT
    )  # as people write it
    await expect(anna.locator("#name-input")).to_have_value("Anna", timeout=WAIT)
    for page in pages:
        await page.context.close()

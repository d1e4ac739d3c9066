"""One real server running two backend worker processes, with Reflex's state in Redis.

Reflex 0.10.1 serves with granian and picks the worker count itself: 1 without Redis, and with
REFLEX_REDIS_URL set min(2 × CPUs + 1, 8); GRANIAN_WORKERS overrides it (reflex/utils/exec.py,
run_granian_backend_prod). Both workers accept on the one port, so any request or websocket may land on
either."""

from __future__ import annotations

import asyncio
import collections
import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.resilience.conftest import postgres_database, require_redis, running_servers
from tests.support.procfs import children_of, established_connections
from tests.support.reflex_internals import reflex_socket_owner
from tests.support.server import RunningServer
from tests.ui.device_cookie import owner_returns_through_a_strangers_lock

pytestmark = pytest.mark.server

WAIT = 20_000  # ms: expectations across a failover or a reconnect, on a busy machine


@pytest.fixture(scope="module")
def two_workers(server_root, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, str]]:
    redis_url = require_redis()
    with (
        postgres_database() as database_url,
        running_servers(server_root, tmp_path_factory.mktemp("workers")) as start,
    ):
        server = start(
            DATABASE_URL=database_url,
            REFLEX_REDIS_URL=redis_url,
            GRANIAN_WORKERS="2",
            CODE_MAX_PER_IP_PER_HOUR="1000",
            SMS_DELAY_MIN="0.2",
            SMS_DELAY_MAX="0.5",
        )
        yield server, redis_url


def worker_pids(server: RunningServer) -> list[int]:
    # make → reflex (the granian supervisor) → the workers
    (supervisor,) = children_of(server.process.pid)
    return sorted(children_of(supervisor))


def port_of(server: RunningServer) -> int:
    return int(server.base_url.rsplit(":", 1)[1])


async def test_both_workers_serve_and_share_the_limits(two_workers: tuple[RunningServer, str]) -> None:
    server, _ = two_workers
    workers = worker_pids(server)
    assert len(workers) == 2
    # Each worker ran the migrations on start (under the migration lock) before serving.
    assert server.log().count("database schema is up to date") == 2

    # 16 kept-alive connections: both workers hold some (each lands on either: 1 in 2^15 to miss one).
    clients = [httpx.AsyncClient(base_url=server.base_url, timeout=30) for _ in range(16)]
    try:
        for client in clients:
            assert (await client.get("/api/health")).status_code == 200
        held = [established_connections(pid, port_of(server)) for pid in workers]
        assert sum(held) == 16 and min(held) > 0, held

        # Over those connections, i.e. over both workers at once, one phone gets exactly one code.
        responses = await asyncio.gather(
            *(client.post("/api/v1/auth/code", json={"phone": "+79160000601"}) for client in clients)
        )
        assert collections.Counter(r.status_code for r in responses) == {200: 1, 429: 15}
    finally:
        for client in clients:
            await client.aclose()


async def test_a_browser_session_moves_between_the_workers(
    two_workers: tuple[RunningServer, str], browser: Browser
) -> None:
    """Half-way through signing in, the page is reloaded until its websocket has been served by both workers:
    the code step, the number and the live countdown come along each time, then the code signs in."""
    server, redis_url = two_workers
    phone = "+79160000602"
    context = await browser.new_context(base_url=server.base_url)
    context.set_default_timeout(20_000)
    page = await context.new_page()
    await page.goto("/")
    await page.fill("#phone-input", phone)
    await page.click("#send-code")
    await expect(page.locator("#code-input")).to_be_visible(timeout=WAIT)
    code = re.findall(r"\d{4}", await page.locator("#demo-code").text_content() or "")[-1]
    session = await page.evaluate("() => window.sessionStorage.getItem('token')")

    owners: list[str | None] = []
    while len(set(owners)) < 2 and len(owners) < 16:  # each reload lands on either worker: 1 in 2^15 to miss
        await page.reload()
        await expect(page.locator("#code-input")).to_be_visible(timeout=WAIT)
        await expect(page.locator("#resend-code")).to_have_text(re.compile(r"через \d+ с"), timeout=WAIT)
        assert await page.evaluate("() => window.sessionStorage.getItem('token')") == session
        owners.append(reflex_socket_owner(redis_url, session))
    assert None not in owners and len(set(owners)) == 2, owners
    # The countdown ticks on, whichever worker runs it and whichever holds the websocket.
    shown = await page.locator("#resend-code").text_content()
    await expect(page.locator("#resend-code")).not_to_have_text(shown or "", timeout=WAIT)

    await page.fill("#code-input", code)
    await expect(page.locator("#profile-phone")).to_have_text("+7 916 000-06-02", timeout=WAIT)
    await page.reload()
    await expect(page.locator("#profile-phone")).to_have_text("+7 916 000-06-02", timeout=WAIT)
    await context.close()


async def test_the_owner_signs_in_through_a_strangers_lock(
    two_workers: tuple[RunningServer, str], browser: Browser
) -> None:
    """The device cookie across two workers: whichever worker hydrates the tab sees it and keeps it."""
    server, _ = two_workers
    context = await browser.new_context(base_url=server.base_url)
    context.set_default_timeout(20_000)
    try:
        await owner_returns_through_a_strangers_lock(context, "+79160000603", timeout=WAIT)
    finally:
        await context.close()

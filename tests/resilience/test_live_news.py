"""Live news across processes: one server with two worker processes (PostgreSQL, Reflex's state in Redis), the
inviter's profile open in two tabs served by different workers, and the activations coming from another browser
and from the API: both tabs show each at once (a toast, the count, the list, the funnel), without a reload."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.helpers import api_login, bearer
from tests.resilience.conftest import postgres_database, require_redis, running_servers
from tests.support.reflex_internals import reflex_socket_owner
from tests.support.server import RunningServer

pytestmark = pytest.mark.server

WAIT = 20_000  # ms


@pytest.fixture(scope="module")
def two_workers(server_root, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, str]]:
    redis_url = require_redis()
    with (
        postgres_database() as database_url,
        running_servers(server_root, tmp_path_factory.mktemp("news")) as start,
    ):
        server = start(
            DATABASE_URL=database_url,
            REFLEX_REDIS_URL=redis_url,
            GRANIAN_WORKERS="2",
            CODE_MAX_PER_IP_PER_HOUR="1000",
            SMS_DELAY_MIN="0",
            SMS_DELAY_MAX="0.2",
        )
        yield server, redis_url


async def sign_in(page: Page, phone: str, path: str = "/") -> None:
    await page.goto(path)
    await page.fill("#phone-input", phone)
    await page.click("#send-code")
    await expect(page.locator("#code-input")).to_be_visible(timeout=WAIT)
    code = re.findall(r"\d{4}", await page.locator("#demo-code").text_content() or "")[-1]
    await page.fill("#code-input", code)
    await expect(page.locator("#profile-phone")).to_be_visible(timeout=WAIT)


async def tab_session(page: Page) -> str:
    return await page.evaluate("() => window.sessionStorage.getItem('token')")


async def shows(page: Page, total: int, phone: str, toast: str) -> None:
    await expect(page.locator("#referrals-total")).to_have_text(f"Всего: {total}", timeout=WAIT)
    await expect(page.locator("#referrals-table")).to_contain_text(phone, timeout=WAIT)
    await expect(page.get_by_text(toast)).to_be_visible(timeout=WAIT)


async def test_both_tabs_of_the_inviter_hear_of_every_activation_at_once(
    two_workers: tuple[RunningServer, str], browser: Browser
) -> None:
    server, redis_url = two_workers
    anna = await browser.new_context(base_url=server.base_url)
    anna.set_default_timeout(WAIT)
    first = await anna.new_page()
    await sign_in(first, "+79160000701")
    code = (await first.locator("#my-invite-code").text_content() or "").strip()
    # A second tab of Anna's (the same browser profile, so signed in), reloaded until another worker serves it.
    second = await anna.new_page()
    await second.goto("/profile")
    await expect(second.locator("#my-invite-code")).to_have_text(code, timeout=WAIT)
    owner = reflex_socket_owner(redis_url, await tab_session(first))
    for _ in range(16):  # each load lands on either worker: 1 in 2^15 to miss
        if reflex_socket_owner(redis_url, await tab_session(second)) not in (None, owner):
            break
        await second.reload()
        await expect(second.locator("#my-invite-code")).to_have_text(code, timeout=WAIT)
    assert reflex_socket_owner(redis_url, await tab_session(second)) not in (None, owner), "one worker serves both"
    for tab in (first, second):
        await expect(tab.locator("#referrals-total")).to_have_text("Всего: 0")
        await tab.evaluate("() => { window.notReloaded = true; }")  # gone if the page were loaded again

    # Boris follows Anna's link in his own browser, signs up and activates her code on the profile page.
    boris = await browser.new_context(base_url=server.base_url)
    boris.set_default_timeout(WAIT)
    page = await boris.new_page()
    await sign_in(page, "+79160000702", f"/?invite={code}")
    await page.click("#activate-invite")
    await expect(page.locator("#activated-code")).to_contain_text(code, timeout=WAIT)
    for tab in (first, second):
        await shows(tab, 1, "+7 916 000-07-02", "+7 916 000-07-02 присоединился по вашему коду")
        funnel = tab.locator("#invite-funnel")
        await expect(funnel).to_contain_text(re.compile(r"7 дней\s*1\s*1\s*1"), timeout=WAIT)

    # Vera activates it through the API: the news comes from whichever worker answered her.
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        vera = await api_login(http, "+79160000703")
        activated = await http.post(
            "/api/v1/profile/invite", json={"invite_code": code}, headers=bearer(vera["access_token"])
        )
        assert activated.status_code == 200, activated.text
    for tab in (first, second):
        await shows(tab, 2, "+7 916 000-07-03", "+7 916 000-07-03 присоединился по вашему коду")
    for tab in (first, second):
        assert urlsplit(tab.url).path.rstrip("/") == "/profile", tab.url
        assert await tab.evaluate("() => window.notReloaded === true"), "the page was loaded again"
    await anna.close()
    await boris.close()

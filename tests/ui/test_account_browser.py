"""In a real Chromium: the Devices card, a tab signed out elsewhere, Download my data,
Delete account with a code. A server of its own with no resend cooldown, so one phone signs in twice."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.support.server import RunningServer, start_server_of_its_own, stop_server
from tests.ui.conftest import DESKTOP, MOBILE
from tests.ui.test_browser import login

pytestmark = pytest.mark.server

PHONE = "+79150077001"


@pytest.fixture(scope="module")
def account_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server_of_its_own(
        Path(__file__).resolve().parents[2],
        tmp_path_factory.mktemp("account-ui"),
        CODE_RESEND_COOLDOWN_SECONDS="0",
    )
    yield running
    stop_server(running)


@pytest.fixture
async def device(browser: Browser, account_server: RunningServer):  # type: ignore[no-untyped-def]
    contexts: list[BrowserContext] = []

    async def make(viewport: dict, user_agent: str) -> Page:
        context = await browser.new_context(
            viewport=viewport, base_url=account_server.base_url, user_agent=user_agent, accept_downloads=True
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return await context.new_page()

    yield make
    for context in contexts:
        await context.close()


LAPTOP_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
PHONE_UA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36"


async def test_devices_download_and_delete(device) -> None:  # type: ignore[no-untyped-def]
    laptop = await device(DESKTOP, LAPTOP_UA)
    await login(laptop, PHONE)
    phone = await device(MOBILE, PHONE_UA)
    await login(phone, PHONE)

    await laptop.reload()
    rows = laptop.locator("#devices .device-row")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_contain_text("Chrome on Android")
    await expect(laptop.locator("#devices")).to_contain_text("Firefox on Linux")
    await expect(laptop.locator("#devices")).to_contain_text("Это устройство")
    await laptop.click("#sign-out-others")
    await expect(rows).to_have_count(1)

    # The phone's tab goes to sign-in, with a message, on its next action.
    await phone.click("#save-details")
    await expect(phone).to_have_url(re.compile(r"/$"))
    await expect(phone.locator("#notice")).to_contain_text("завершён на другом устройстве")

    async with laptop.expect_download() as downloading:
        await laptop.click("#download-data")
    download = await downloading.value
    assert download.suggested_filename == "referral_app-my-data.json"
    data = json.loads(Path(await download.path()).read_text())
    assert data["phone"] == PHONE and len(data["sessions"]) == 2

    await laptop.click("#delete-account")
    await expect(laptop.locator("#delete-warning")).to_be_visible()
    await laptop.click("#send-delete-code")
    demo = await laptop.locator("#delete-demo-code").text_content()
    code = re.findall(r"\d{4}", demo or "")[-1]
    await laptop.fill("#delete-code-input", "0000" if code != "0000" else "1111")
    await laptop.press("#delete-code-input", "Enter")
    await expect(laptop.locator("#delete-error")).to_contain_text("Код неверный")
    await laptop.fill("#delete-code-input", code)
    await laptop.press("#delete-code-input", "Enter")
    await expect(laptop).to_have_url(re.compile(r"/$"))
    await expect(laptop.locator("#notice")).to_have_text("Ваш аккаунт удалён.")

    await login(laptop, PHONE)  # the number registers again, as a new account
    await expect(laptop.locator("#referrals-total")).to_contain_text("0")


async def test_devices_card_in_english_on_a_phone(device) -> None:  # type: ignore[no-untyped-def]
    page = await device(MOBILE, PHONE_UA)
    await page.goto("/")
    await page.evaluate("() => localStorage.setItem('referral_lang', 'en')")
    await login(page, "+79150077002")
    await expect(page.locator("#devices-card")).to_contain_text("Devices")
    await expect(page.locator("#devices-card")).to_contain_text("This device")
    await expect(page.locator("#sign-out-others")).to_have_count(0)  # nothing else to sign out
    await expect(page.locator("#account-card")).to_contain_text("Download my data")
    await page.click("#delete-account")
    await expect(page.locator("#delete-warning")).to_contain_text("cannot be undone")

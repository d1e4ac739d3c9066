"""The database goes away under a signed-in profile page in a real browser: every action and the page's own
load answer with the service's translated message (web/errors.py, the one backend exception handler), never
Reflex's untranslated default, and the page works again once the database is back."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import pytest
from playwright.async_api import Browser, Page, expect

from referral_app.core.i18n import DEFAULT_LANGUAGE
from tests.support.postgres import TempPostgres
from tests.support.server import RunningServer

pytestmark = pytest.mark.server

UNAVAILABLE = {
    "RU": "Сервис временно недоступен. Повторите чуть позже.",
    "EN": "The service is temporarily unavailable. Try again shortly.",
}
# Reflex's own toast for an error no handler translated (what must never be shown).
REFLEX_DEFAULT = re.compile("An unexpected error has occurred|Contact the website administrator")


TITLE = {"RU": "Вход по номеру телефона", "EN": "Sign in with your phone"}


async def choose_language(page: Page, language: str) -> None:
    """Switch the language and wait until the server's answer reached the page and the browser's storage: a
    navigation before that (a slow server) would load the page in the old language."""
    await page.locator("#language-switch").get_by_role("radio", name=language).click()
    await expect(page.locator("h1")).to_have_text(TITLE[language])
    await page.wait_for_function(
        "([lang, fallback]) => (localStorage.getItem('referral_lang') ?? fallback) === lang",
        arg=[language.lower(), DEFAULT_LANGUAGE],
    )


async def sign_in(page: Page, phone: str) -> None:
    await page.fill("#phone-input", phone)
    await page.keyboard.press("Enter")
    demo = page.locator("#demo-code")
    await expect(demo).to_be_visible()
    code = re.findall(r"\d{4}", await demo.text_content() or "")[-1]
    await page.fill("#code-input", code)
    await expect(page.locator("#profile-phone")).to_be_visible()


async def expect_translated_outage(page: Page, language: str) -> None:
    toast = page.locator("[data-sonner-toast]").filter(has_text=UNAVAILABLE[language])
    await expect(toast).to_have_count(1, timeout=20_000)  # after the database connect timeout at most
    await expect(page.locator("[data-sonner-toast]").filter(has_text=REFLEX_DEFAULT)).to_have_count(0)
    # One toast id for every service error (a repeat updates it): let it go before the next action.
    await expect(page.locator("[data-sonner-toast]")).to_have_count(0, timeout=20_000)


@pytest.mark.parametrize("language", ["RU", "EN"])
async def test_an_outage_under_the_profile_page_is_explained_in_the_tab_language(
    own_postgres: TempPostgres, servers: Callable[..., RunningServer], browser: Browser, language: str
) -> None:
    server = servers(DATABASE_URL=own_postgres.create_database("app"), SMS_DELAY_MIN="0", SMS_DELAY_MAX="0")
    context = await browser.new_context(base_url=server.base_url)
    context.set_default_timeout(30_000)  # an outage answers after the database connect timeout (5 s)
    page = await context.new_page()
    try:
        await page.goto("/")
        await choose_language(page, language)
        await sign_in(page, "+79170000101")

        await asyncio.to_thread(own_postgres.stop, "immediate")
        await page.fill("#name-input", "Anna")
        await page.keyboard.press("Enter")  # an event handler
        await expect_translated_outage(page, language)
        await expect(page.locator("#save-details")).to_be_enabled()  # not left busy
        await page.fill("#invite-input", "ABC123")
        await page.keyboard.press("Enter")
        await expect_translated_outage(page, language)
        await page.reload()  # the page's on_load, which checks the session
        await expect_translated_outage(page, language)

        await asyncio.to_thread(own_postgres.start)
        await page.reload()
        await expect(page.locator("#profile-phone")).to_have_text("+7 917 000-01-01")  # still signed in
        await page.fill("#name-input", "Anna")
        await page.keyboard.press("Enter")
        await expect(
            page.locator("[data-sonner-toast]").filter(has_text=re.compile("Сохранено|Saved"))
        ).to_have_count(1)
    finally:
        await context.close()

"""Browser fixtures: Chromium driven by Playwright against the live server."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.support.server import RunningServer

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 860}
MOBILE = {"width": 375, "height": 812}


def chromium_path() -> str | None:
    """A system Chromium (Debian's package) if there is one; else Playwright's own download, if installed."""
    explicit = os.environ.get("CHROMIUM_PATH")
    if explicit:
        return explicit
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return None


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    path = Path(
        os.environ.get("SCREENSHOT_DIR", Path(__file__).resolve().parents[2] / "test-results" / "screenshots")
    )
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def new_page(browser: Browser, live_server: RunningServer):  # type: ignore[no-untyped-def]
    """Factory for pages in fresh browser profiles (own localStorage), like separate people."""
    contexts: list[BrowserContext] = []

    async def make(viewport: dict | None = None) -> Page:
        context = await browser.new_context(viewport=viewport or DESKTOP, base_url=live_server.base_url)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return await context.new_page()

    yield make
    for context in contexts:
        await context.close()

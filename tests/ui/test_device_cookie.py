"""The web app keeps its device cookie through reloads and sign-outs, so a stranger's lock of the phone never
keeps its owner out of a browser they signed in with before (on SQLite; PostgreSQL + Redis with two workers:
tests/resilience/test_two_workers.py)."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser

from tests.support.server import RunningServer
from tests.ui.device_cookie import owner_returns_through_a_strangers_lock

pytestmark = pytest.mark.server


async def test_the_owner_signs_in_through_a_strangers_lock(browser: Browser, live_server: RunningServer) -> None:
    context = await browser.new_context(base_url=live_server.base_url)
    context.set_default_timeout(15_000)
    try:
        await owner_returns_through_a_strangers_lock(context, "+79160000901", timeout=15_000)
    finally:
        await context.close()

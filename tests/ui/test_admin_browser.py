"""The operator's console in a real Chromium: an operator added by the CLI signs in, watches the overview
change when someone else signs in, finds that user by a phone typed as `8 (912) 345-67-89`, ends a lock
strangers put on the number, blocks, unblocks and signs out a session, and finds each in the audit trail with
the reason typed. A server of its own: a phone locks after 3 wrong guesses and codes may be resent at once."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.support.server import RunningServer, server_environment, start_server_of_its_own, stop_server
from tests.ui.conftest import DESKTOP, MOBILE
from tests.ui.test_browser import open_login, request_code

pytestmark = pytest.mark.server

OPERATOR, TARGET = "+79990001122", "+79123456789"
TYPED = "8 (912) 345-67-89"
LIVE_WAIT_MS = 30_000  # the overview reads its figures every few seconds; a timeout, not a measurement


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server_of_its_own(
        Path(__file__).resolve().parents[2],
        tmp_path_factory.mktemp("console-ui"),
        CODE_RESEND_COOLDOWN_SECONDS="0",
        PHONE_MAX_FAILURES="3",
        CODE_MAX_PER_IP_PER_HOUR="1000",
        CODE_MAX_PER_PHONE_PER_HOUR="50",
        VERIFY_MAX_PER_IP_PER_HOUR="1000",
    )
    yield running
    stop_server(running)


@pytest.fixture
async def person(browser: Browser, console_server: RunningServer):  # type: ignore[no-untyped-def]
    contexts: list[BrowserContext] = []

    async def make(viewport: dict | None = None) -> Page:
        context = await browser.new_context(viewport=viewport or DESKTOP, base_url=console_server.base_url)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return await context.new_page()

    yield make
    for context in contexts:
        await context.close()


async def login(page: Page, phone: str) -> None:
    await open_login(page)
    await page.fill("#code-input", await request_code(page, phone))  # four digits submit by themselves
    await expect(page).to_have_url(re.compile(r"/profile$"))
    await expect(page.locator("#profile-phone")).to_be_visible()


def add_operator(server: RunningServer, phone: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "referral_app.cli", "admins", "add", phone],
        env=server_environment(DATABASE_URL=f"sqlite:///{server.log_path.parent / 'server.db'}"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


async def stranger_guesses(server: RunningServer, phone: str, code: str | None = None) -> int:
    """A client without a device token asks for a code and tries `code` (a wrong one by default)."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as api:
        sent = await api.post("/api/v1/auth/code", json={"phone": phone})
        assert sent.status_code == 200, sent.text
        real = sent.json()["debug_code"]
        guess = code or ("0000" if real != "0000" else "1111")
        answer = await api.post(
            "/api/v1/auth/token", json={"phone": phone, "code": real if code == "right" else guess}
        )
        return answer.status_code


async def act(page: Page, action: str, reason: str, button: str | None = None) -> None:
    """Press an action's button, type the reason, confirm; done when the confirmation closes."""
    await page.locator(button or f"#action-{action}").first.click()
    await page.fill("#action-reason", reason)
    await page.click("#action-confirm")
    await expect(page.locator("#action-card")).to_have_count(0)


async def test_operator_console_walkthrough_and_screenshots(  # type: ignore[no-untyped-def]
    person, console_server: RunningServer, screenshot_dir: Path
) -> None:
    add_operator(console_server, OPERATOR)
    operator = await person()
    await login(operator, OPERATOR)
    await operator.click("#admin-link")
    await expect(operator).to_have_url(re.compile(r"/admin$"))
    await expect(operator.locator("#figure-users_total")).to_have_text("1")

    # Someone signs in elsewhere: the open overview counts them without a reload.
    target = await person(MOBILE)
    await login(target, TARGET)
    await expect(operator.locator("#figure-users_total")).to_have_text("2", timeout=LIVE_WAIT_MS)
    await expect(operator.locator("#figure-sign_ins_hour")).to_have_text("2")
    await operator.screenshot(path=screenshot_dir / "admin-overview-desktop-ru.png", full_page=True)

    # Strangers lock the number; the API refuses even the right code.
    for _ in range(3):
        assert await stranger_guesses(console_server, TARGET) in (400, 429)
    assert await stranger_guesses(console_server, TARGET, "right") == 429
    # The security page lists the lock with when it ends.
    await operator.click("#admin-nav-security")
    await expect(operator.locator(".locked-row")).to_have_count(1)
    await expect(operator.locator(".locked-row")).to_contain_text("+7 912 345-67-89")
    await operator.screenshot(path=screenshot_dir / "admin-locks-desktop-ru.png", full_page=True)
    # Every code went through the SMS ledger (the log sender in demo mode).
    await operator.click("#admin-nav-sms")
    await expect(operator.locator(".sms-row").first).to_be_visible()
    await expect(operator.locator("#sms-sent")).not_to_have_text("0")
    await operator.screenshot(path=screenshot_dir / "admin-sms-desktop-ru.png", full_page=True)

    await operator.click("#admin-nav-users")
    await operator.fill("#admin-search", TYPED)
    await operator.keyboard.press("Enter")
    await expect(operator.locator(".users-row")).to_have_count(1)
    await operator.screenshot(path=screenshot_dir / "admin-users-desktop-ru.png", full_page=True)
    await operator.locator(".users-row a").click()
    await expect(operator.locator("#user-phone")).to_have_text("+7 912 345-67-89")
    await expect(operator.locator(".locks-row")).to_have_count(1)

    await act(operator, "end_locks", "owner called: locked out")
    await expect(operator.locator("#locks-empty")).to_be_visible()
    assert await stranger_guesses(console_server, TARGET, "right") == 200  # the lock is over at once

    await act(operator, "block", "looks like a takeover")
    await expect(operator.locator("#user-status")).to_be_visible()
    await expect(operator.locator("#sessions-empty")).to_be_visible()  # blocking ended every session
    await target.goto("/profile")
    await expect(target.locator("#phone-input")).to_be_visible()  # signed out there
    await act(operator, "unblock", "owner verified")
    await expect(operator.locator("#user-status")).to_have_count(0)

    await login(target, TARGET)
    await operator.reload()
    await expect(operator.locator(".session-row")).to_have_count(1)
    await operator.click("#tree-show")
    await expect(operator.locator("#tree-empty")).to_be_visible()  # no one used their code
    await operator.screenshot(path=screenshot_dir / "admin-user-desktop-ru.png", full_page=True)
    await act(operator, "sign_out_session", "lost phone", button=".action-sign_out_session")
    await expect(operator.locator("#sessions-empty")).to_be_visible()

    # Each action is in the audit trail with the operator's reason and the operator as the user.
    await operator.click("#admin-nav-security")
    for event, reason in (
        ("admin_lock_ended", "owner called: locked out"),
        ("admin_blocked", "looks like a takeover"),
        ("admin_unblocked", "owner verified"),
        ("admin_signed_out", "lost phone"),
    ):
        await operator.select_option("#filter-event", event)
        await operator.fill("#filter-phone", TYPED)
        await operator.click("#filter-apply")
        rows = operator.locator(".events-row")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_contain_text(reason)
        await expect(rows.first).to_contain_text(event)
    await operator.screenshot(path=screenshot_dir / "admin-security-desktop-ru.png", full_page=True)
    await operator.click("#admin-nav-referrals")
    await expect(operator.locator("#leaders-card")).to_be_visible()
    await operator.screenshot(path=screenshot_dir / "admin-referrals-desktop-ru.png", full_page=True)

    # The same console on a phone, and nothing of it for the signed-in target.
    await target.goto("/admin/users")
    await expect(target.locator("#admin-not-found")).to_be_visible()
    await expect(target.locator("#admin-search")).to_have_count(0)
    mobile = await person(MOBILE)
    await login(mobile, OPERATOR)
    await mobile.click("#admin-link")
    await expect(mobile.locator("#figure-users_total")).to_have_text("2")
    await mobile.screenshot(path=screenshot_dir / "admin-overview-mobile-ru.png", full_page=True)

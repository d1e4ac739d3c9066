"""The device cookie's promise, walked in a real browser against a real server: a returning owner is not locked
out by strangers. Used on SQLite (tests/ui/test_device_cookie.py) and on PostgreSQL + Redis with two workers
(tests/resilience/test_two_workers.py)."""

from __future__ import annotations

import asyncio
import re

import httpx
from playwright.async_api import BrowserContext, Page, expect

DEVICE_COOKIE = "referral_device"
STRANGER = "198.51.100.77"  # the stranger's address, told to the server as its trusted proxy (loopback) would


async def _device_cookie(context: BrowserContext) -> dict:
    found = [cookie for cookie in await context.cookies() if cookie["name"] == DEVICE_COOKIE]
    assert len(found) == 1, await context.cookies()
    return dict(found[0])


async def _code_for(page: Page, phone: str, timeout: float) -> str:
    """Request a code in the page (after the phone's resend cooldown, which the page counts down) and return it
    from the demo notice."""
    await page.fill("#phone-input", phone)
    await page.click("#send-code")
    await expect(page.locator("#code-input")).to_be_visible(timeout=timeout)
    demo = await page.locator("#demo-code").text_content()
    return re.findall(r"\d{4}", demo or "")[-1]


async def _stranger_locks(client: httpx.AsyncClient, phone: str) -> float:
    """The stranger waits out the phone's cooldown, requests a code and guesses wrong until the phone is locked
    for everyone without a device of it; then even the right code is refused to them. Returns when (event loop
    time) the phone's next code may be requested."""
    headers = {"X-Forwarded-For": STRANGER}
    while (
        sent := await client.post("/api/v1/auth/code", json={"phone": phone}, headers=headers)
    ).status_code == 429:
        await asyncio.sleep(int(sent.headers["Retry-After"]))
    assert sent.status_code == 200, sent.text
    next_code_at = asyncio.get_running_loop().time() + sent.json()["resend_in"] + 1
    code = sent.json()["debug_code"]
    wrong = f"{(int(code) + 1) % 10_000:04d}"
    for _ in range(50):
        guess = await client.post("/api/v1/auth/token", json={"phone": phone, "code": wrong}, headers=headers)
        if guess.json().get("code") == "rate_limited":
            break
    else:
        raise AssertionError("the stranger was never locked out")
    right = await client.post("/api/v1/auth/token", json={"phone": phone, "code": code}, headers=headers)
    assert (right.status_code, right.json()["code"]) == (429, "rate_limited")
    return next_code_at


async def owner_returns_through_a_strangers_lock(context: BrowserContext, phone: str, timeout: float) -> None:
    """Sign in, reload, log out: the device cookie stays. A stranger locks the phone. The owner, in the same
    browser, signs in again."""
    page = await context.new_page()
    await page.goto("/")
    code = await _code_for(page, phone, timeout)
    await page.fill("#code-input", code)
    await expect(page).to_have_url(re.compile(r"/profile$"), timeout=timeout)
    cookie = await _device_cookie(context)
    assert cookie["value"].startswith("rfd_") and cookie["sameSite"] == "Strict"

    await page.reload()  # the server sees the cookie again on hydrate, and keeps it
    await expect(page.locator("#profile-phone")).to_be_visible(timeout=timeout)
    await page.click("#logout")
    await expect(page.locator("#phone-input")).to_be_visible(timeout=timeout)
    assert (await _device_cookie(context))["value"] == cookie["value"]  # logging out forgets the session only

    base_url = "/".join(page.url.split("/", 3)[:3])
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        next_code_at = await _stranger_locks(client, phone)

    # The stranger's code started the phone's resend cooldown: the owner waits it out as anyone would.
    await asyncio.sleep(max(0.0, next_code_at - asyncio.get_running_loop().time()))
    await page.reload()
    code = await _code_for(page, phone, timeout)
    await page.fill("#code-input", code)
    await expect(page).to_have_url(re.compile(r"/profile$"), timeout=timeout)
    assert (await _device_cookie(context))["value"] == cookie["value"]  # the same device, recognised

"""End-to-end: a real Chromium drives the production build served by `make run`."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.helpers import Stopwatch
from tests.support.server import RunningServer
from tests.ui.conftest import DESKTOP, MOBILE

pytestmark = pytest.mark.server

_numbers = itertools.count(1)


def new_phone() -> str:
    """A fresh valid Russian mobile number for every login (limits are per phone)."""
    return f"+7915{next(_numbers):07d}"


async def open_login(page: Page, path: str = "/") -> None:
    await page.goto(path)
    await expect(page.locator("#phone-input")).to_be_visible()


async def request_code(page: Page, phone: str) -> str:
    await page.fill("#phone-input", phone)
    await page.click("#send-code")
    await expect(page.locator("#code-input")).to_be_visible()
    demo = await page.locator("#demo-code").text_content()
    return re.findall(r"\d{4}", demo or "")[-1]


async def login(page: Page, phone: str, path: str = "/") -> None:
    await open_login(page, path)
    code = await request_code(page, phone)
    await page.fill("#code-input", code)  # four digits submit by themselves
    await expect(page).to_have_url(re.compile(r"/profile$"))
    await expect(page.locator("#profile-phone")).to_have_text(phone)


async def invite_code(page: Page) -> str:
    return (await page.locator("#my-invite-code").text_content() or "").strip()


async def token_of(page: Page) -> str:
    return await page.evaluate("() => JSON.parse(JSON.stringify(localStorage.getItem('referral_token')))")


async def test_two_users_refer_through_the_share_link(new_page, live_server: RunningServer) -> None:  # type: ignore[no-untyped-def]
    alice_phone, bob_phone = new_phone(), new_phone()
    alice = await new_page()
    await login(alice, alice_phone)
    alice_code = await invite_code(alice)
    share_link = await alice.locator("#share-link").input_value()
    assert share_link == f"{live_server.base_url.replace('127.0.0.1', '127.0.0.1')}/?invite={alice_code}"
    await expect(alice.locator("#share-qr")).to_have_attribute("src", re.compile(r"^data:image/svg\+xml"))

    bob = await new_page(MOBILE)
    await login(bob, bob_phone, path=f"/?invite={alice_code.lower()}")
    await expect(bob.locator("#invite-input")).to_have_value(alice_code)
    await expect(bob.locator("#invite-from-link")).to_be_visible()
    await bob.click("#activate-invite")
    await expect(bob.locator("#activated-code")).to_have_text(alice_code)
    await expect(bob.locator("#invited-by")).to_contain_text(alice_phone)

    await alice.reload()
    await expect(alice.locator("#referrals-table")).to_contain_text(bob_phone)
    await expect(alice.locator("#referrals-total")).to_contain_text("1")


async def test_invalid_phone_is_explained_inline(new_page) -> None:  # type: ignore[no-untyped-def]
    page = await new_page(MOBILE)
    await open_login(page)
    await page.fill("#phone-input", "12345")
    await page.click("#send-code")
    await expect(page.locator("#phone-error")).to_have_text("Это не похоже на правильный номер телефона.")
    await expect(page.locator("#code-input")).to_have_count(0)


async def test_sending_shows_progress_then_countdown(new_page) -> None:  # type: ignore[no-untyped-def]
    page = await new_page()
    await open_login(page)
    await page.fill("#phone-input", new_phone())
    watch = Stopwatch()
    await page.click("#send-code")
    await expect(page.locator("#send-code")).to_contain_text("Отправляем код")  # during the 1–2 s delivery
    await expect(page.locator("#code-input")).to_be_visible()
    resend = page.locator("#resend-code")
    await expect(resend).to_be_disabled()
    first = await resend.text_content()
    shown = re.search(r"через (\d+) с", first or "")
    assert shown and 60 - watch.seconds() <= int(shown[1]) <= 60, first  # the cooldown, less the time since
    await expect(resend).not_to_have_text(first or "", timeout=15_000)  # it counts down live


async def test_wrong_code_shows_attempts_left(new_page) -> None:  # type: ignore[no-untyped-def]
    page = await new_page()
    await open_login(page)
    code = await request_code(page, new_phone())
    wrong = f"{(int(code) + 1) % 10_000:04d}"
    await page.fill("#code-input", wrong)
    await expect(page.locator("#code-error")).to_have_text("Код неверный или устарел. Осталось попыток: 4.")
    await expect(page.locator("#code-input")).to_have_value("")
    await page.fill("#code-input", code)
    await expect(page).to_have_url(re.compile(r"/profile$"))


async def test_own_and_unknown_invite_codes_are_rejected(new_page) -> None:  # type: ignore[no-untyped-def]
    page = await new_page()
    await login(page, new_phone())
    await page.fill("#invite-input", await invite_code(page))
    await page.click("#activate-invite")
    await expect(page.locator("#invite-error")).to_have_text("Нельзя активировать собственный инвайт-код.")
    await page.fill("#invite-input", "ZZZZZZ")
    await page.click("#activate-invite")
    await expect(page.locator("#invite-error")).to_have_text("Пользователя с таким инвайт-кодом нет.")


async def test_reload_keeps_the_session_and_logout_revokes_it(new_page, live_server: RunningServer) -> None:  # type: ignore[no-untyped-def]
    page = await new_page()
    await login(page, new_phone())
    await page.reload()
    await expect(page.locator("#profile-phone")).to_be_visible()
    second_tab = await page.context.new_page()
    await second_tab.goto("/")
    await expect(second_tab).to_have_url(re.compile(r"/profile$"))  # signed in in a new tab, too

    token = await token_of(page)
    assert token.startswith("rfa_")
    await page.click("#logout")
    await expect(page.locator("#phone-input")).to_be_visible()
    assert await token_of(page) in ("", None)
    response = httpx.get(f"{live_server.base_url}/api/v1/profile", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    await page.goto("/profile")
    await expect(page.locator("#phone-input")).to_be_visible()  # logged out: back to login


async def test_revoked_token_sends_the_user_back_with_a_message(new_page, live_server: RunningServer) -> None:  # type: ignore[no-untyped-def]
    page = await new_page()
    await login(page, new_phone())
    token = await token_of(page)
    httpx.post(f"{live_server.base_url}/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
    await page.reload()
    await expect(page.locator("#notice")).to_have_text(
        "Сеанс завершён (истёк или завершён на другом устройстве). Войдите снова."
    )
    await expect(page.locator("#phone-input")).to_be_visible()


async def test_language_switch_changes_texts_and_survives_reload(new_page) -> None:  # type: ignore[no-untyped-def]
    page = await new_page()
    await open_login(page)
    await expect(page.locator("h1")).to_have_text("Вход по номеру телефона")
    await page.locator("#language-switch").get_by_role("radio", name="EN").click()
    await expect(page.locator("h1")).to_have_text("Sign in with your phone")
    await page.reload()
    await expect(page.locator("h1")).to_have_text("Sign in with your phone")
    await page.fill("#phone-input", "12345")
    await page.click("#send-code")
    await expect(page.locator("#phone-error")).to_have_text("This is not a valid phone number.")
    await page.locator("#language-switch").get_by_role("radio", name="RU").click()
    await expect(page.locator("#phone-error")).to_have_text("Это не похоже на правильный номер телефона.")


async def test_long_referral_lists_are_paged(new_page, live_server: RunningServer) -> None:  # type: ignore[no-untyped-def]
    page = await new_page()
    owner_phone = new_phone()
    await login(page, owner_phone)
    code = await invite_code(page)
    with httpx.Client(base_url=live_server.base_url, timeout=10) as api:
        for _ in range(12):
            phone = new_phone()
            sent = api.post("/api/v1/auth/code", json={"phone": phone}).json()
            token = api.post("/api/v1/auth/token", json={"phone": phone, "code": sent["debug_code"]}).json()
            api.post(
                "/api/v1/profile/invite",
                json={"invite_code": code},
                headers={"Authorization": f"Bearer {token['access_token']}"},
            ).raise_for_status()
    await page.reload()
    await expect(page.locator("#referrals-total")).to_contain_text("12")
    await expect(page.locator("#referrals-table tbody tr")).to_have_count(10)
    await expect(page.locator("#referrals-page")).to_have_text("Страница 1 из 2")
    await page.click("#referrals-next")
    await expect(page.locator("#referrals-page")).to_have_text("Страница 2 из 2")
    await expect(page.locator("#referrals-table tbody tr")).to_have_count(2)


async def test_edit_name_and_email(new_page) -> None:  # type: ignore[no-untyped-def]
    page = await new_page()
    await login(page, new_phone())
    await page.fill("#email-input", "not-an-email")
    await page.click("#save-details")
    await expect(page.locator("#details-error")).to_have_text("Это не похоже на правильный адрес почты.")
    await page.fill("#name-input", "Анна")
    await page.fill("#email-input", "anna@example.com")
    await page.click("#save-details")
    await expect(page.locator("#details-error")).to_have_text("")
    await page.reload()
    await expect(page.locator("#name-input")).to_have_value("Анна")
    await expect(page.locator("#email-input")).to_have_value("anna@example.com")


@pytest.mark.parametrize(("label", "viewport"), [("desktop", DESKTOP), ("mobile", MOBILE)])
async def test_screenshots(new_page, screenshot_dir: Path, label: str, viewport: dict) -> None:  # type: ignore[no-untyped-def]
    """Pictures of every page for the README (written to SCREENSHOT_DIR, default test-results/screenshots)."""
    page = await new_page(viewport)
    await open_login(page)
    await page.locator("#language-switch").get_by_role("radio", name="EN").click()
    await expect(page.locator("h1")).to_have_text("Sign in with your phone")
    await page.fill("#phone-input", "+7 912 000-00-00")
    await page.screenshot(path=screenshot_dir / f"login-{label}.png", full_page=True)
    phone = new_phone()
    code = await request_code(page, phone)
    await page.screenshot(path=screenshot_dir / f"verify-{label}.png", full_page=True)
    await page.fill("#code-input", code)
    await expect(page.locator("#profile-phone")).to_have_text(phone)
    await page.fill("#name-input", "Anna")
    await page.evaluate("() => document.querySelectorAll('[data-sonner-toast]').forEach(t => t.remove())")
    await page.screenshot(path=screenshot_dir / f"profile-{label}.png", full_page=True)
    assert (screenshot_dir / f"profile-{label}.png").stat().st_size > 10_000

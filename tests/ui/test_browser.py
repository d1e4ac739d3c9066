"""End-to-end: a real Chromium drives the production build served by `make run`."""

from __future__ import annotations

import asyncio
import itertools
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

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


def shown(phone: str) -> str:
    """How the web app writes one of new_phone's numbers: `+7 915 000-00-01`."""
    digits = phone.removeprefix("+7915")
    return f"+7 915 {digits[:3]}-{digits[3:5]}-{digits[5:]}"


HUMAN_KEY_DELAY_MS = 70  # a person typing at normal speed


async def paste(page: Page, selector: str, text: str) -> None:
    """Paste `text` into the field as a person does (clipboard, then Ctrl+V)."""
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await page.evaluate("(text) => navigator.clipboard.writeText(text)", text)
    await page.focus(selector)
    await page.keyboard.press("ControlOrMeta+V")


async def enter(page: Page, selector: str, text: str, how: str) -> None:
    """Type (at human speed) or paste `text` into the field and press Enter at once."""
    if how == "typed":
        await page.locator(selector).press_sequentially(text, delay=HUMAN_KEY_DELAY_MS)
    else:
        await paste(page, selector, text)
    await page.keyboard.press("Enter")


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
    await expect(page.locator("#profile-phone")).to_have_text(shown(phone))


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
    await expect(bob.locator("#invited-by")).to_contain_text(shown(alice_phone))

    await alice.reload()
    await expect(alice.locator("#referrals-table")).to_contain_text(shown(bob_phone))
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


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize(("label", "viewport"), [("desktop", DESKTOP), ("mobile", MOBILE)])
async def test_screenshots(  # type: ignore[no-untyped-def]
    new_page, live_server: RunningServer, screenshot_dir: Path, label: str, viewport: dict, language: str
) -> None:
    """Pictures of every page for the README (written to SCREENSHOT_DIR, default test-results/screenshots)."""
    page = await new_page(viewport)
    await open_login(page)
    await page.locator("#language-switch").get_by_role("radio", name=language.upper()).click()
    title = {"en": "Sign in with your phone", "ru": "Вход по номеру телефона"}[language]
    await expect(page.locator("h1")).to_have_text(title)
    await page.fill("#phone-input", "+7 912 000-00-00")
    await page.screenshot(path=screenshot_dir / f"login-{label}-{language}.png", full_page=True)
    await page.fill("#phone-input", "")
    phone = new_phone()
    code = await request_code(page, phone)
    await page.screenshot(path=screenshot_dir / f"verify-{label}-{language}.png", full_page=True)
    await page.fill("#code-input", code)
    await expect(page.locator("#profile-phone")).to_have_text(shown(phone))
    # One person who used the code, so the list (phones as people write them) is in the picture.
    await redeem_by_api(live_server.base_url, await invite_code(page))
    await page.reload()
    await expect(page.locator("#referrals-table tbody tr")).to_have_count(1)
    await page.fill("#name-input", "Anna")
    await page.evaluate("() => document.querySelectorAll('[data-sonner-toast]').forEach(t => t.remove())")
    await page.screenshot(path=screenshot_dir / f"profile-{label}-{language}.png", full_page=True)
    assert (screenshot_dir / f"profile-{label}-{language}.png").stat().st_size > 10_000


def sign_up_by_api(base_url: str, invite: str | None = None) -> tuple[str, str]:
    """A new user made through the API, who activates `invite` when given: (phone, own invite code)."""
    phone = new_phone()
    with httpx.Client(base_url=base_url, timeout=10) as api:
        sent = api.post("/api/v1/auth/code", json={"phone": phone}).json()
        token = api.post("/api/v1/auth/token", json={"phone": phone, "code": sent["debug_code"]}).json()
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        if invite is not None:
            api.post("/api/v1/profile/invite", json={"invite_code": invite}, headers=auth).raise_for_status()
        return phone, api.get("/api/v1/profile", headers=auth).json()["invite_code"]


async def redeem_by_api(base_url: str, invite: str) -> None:
    await asyncio.to_thread(sign_up_by_api, base_url, invite)


@pytest.mark.parametrize("how", ["typed", "pasted"])
async def test_enter_sends_every_form_with_what_the_field_holds(  # type: ignore[no-untyped-def]
    new_page, live_server: RunningServer, how: str
) -> None:
    """Typed at human speed or pasted, then Enter at once: each form is sent with the field's value then."""
    page = await new_page(MOBILE)
    await open_login(page)
    await page.keyboard.press("Enter")  # nothing typed: the service's message, not silence
    await expect(page.locator("#phone-error")).to_have_text("Это не похоже на правильный номер телефона.")
    phone = new_phone()
    await enter(page, "#phone-input", phone, how)
    await expect(page.locator("#sent-to")).to_have_text(f"Мы отправили код на {shown(phone)}")
    code = re.findall(r"\d{4}", await page.locator("#demo-code").text_content() or "")[-1]

    await enter(page, "#code-input", code[:3], how)  # a short code is sent, and refused by the service
    await expect(page.locator("#code-error")).to_have_text("Код неверный или устарел. Осталось попыток: 4.")
    wrong = f"{(int(code) + 1) % 10_000:04d}"
    await enter(page, "#code-input", wrong, how)  # the last digit checks it, Enter too: one attempt spent
    await expect(page.locator("#code-error")).to_have_text("Код неверный или устарел. Осталось попыток: 3.")
    await enter(page, "#code-input", code, how)
    await expect(page.locator("#profile-phone")).to_have_text(shown(phone))

    inviter_phone, inviter_code = sign_up_by_api(live_server.base_url)
    await enter(page, "#invite-input", inviter_code, how)
    await expect(page.locator("#activated-code")).to_have_text(inviter_code)
    await expect(page.locator("#invited-by")).to_contain_text(shown(inviter_phone))

    await enter(page, "#name-input", "Анна", how)
    await expect(page.locator("[data-sonner-toast]").filter(has_text="Сохранено")).to_have_count(1)
    await enter(page, "#email-input", "anna@example", how)
    await expect(page.locator("#details-error")).to_have_text("Это не похоже на правильный адрес почты.")
    await enter(page, "#email-input", ".com", how)
    await expect(page.locator("#details-error")).to_have_text("")
    await page.reload()
    await expect(page.locator("#name-input")).to_have_value("Анна")
    await expect(page.locator("#email-input")).to_have_value("anna@example.com")


# WebOTP as Chrome on Android has it: the test hands the browser the code the SMS would carry.
WEB_OTP_STUB = """
window.OTPCredential = function () {};
window.__otpRequests = 0;
navigator.credentials.get = (options) => new Promise((resolve) => {
  if (options && options.otp) { window.__otpRequests += 1; window.__deliverOtp = (code) => resolve({code}); }
});
"""


async def test_web_otp_fills_and_sends_the_code(new_page) -> None:  # type: ignore[no-untyped-def]
    page = await new_page(MOBILE)
    await page.add_init_script(WEB_OTP_STUB)
    await open_login(page)
    await expect(page.locator("#phone-input")).to_have_attribute("autocomplete", "tel")
    phone = new_phone()
    code = await request_code(page, phone)
    await expect(page.locator("#code-input")).to_have_attribute("autocomplete", "one-time-code")
    await page.wait_for_function("() => window.__otpRequests === 1")
    await page.evaluate("(code) => window.__deliverOtp(code)", code)
    await expect(page.locator("#profile-phone")).to_have_text(shown(phone))


async def test_share_sheet_and_messenger_links(new_page, live_server: RunningServer) -> None:  # type: ignore[no-untyped-def]
    page = await new_page(MOBILE)
    await page.add_init_script("navigator.share = (data) => { window.__shared = data; return Promise.resolve(); }")
    await login(page, new_phone())
    code, link = await invite_code(page), await page.locator("#share-link").input_value()
    text = f"Присоединяйтесь к Referral: войдите по ссылке, мой инвайт-код {code}."
    await page.click("#share-button")
    shared = await page.wait_for_function("() => window.__shared")
    assert await shared.json_value() == {"title": await page.title(), "text": text, "url": link}

    telegram = await page.locator("#share-telegram").get_attribute("href")
    assert telegram is not None and telegram.startswith("https://t.me/share/url?")
    assert parse_qs(urlsplit(telegram).query) == {"url": [link], "text": [text]}
    whatsapp = await page.locator("#share-whatsapp").get_attribute("href")
    assert whatsapp is not None and whatsapp.startswith("https://wa.me/?")
    assert parse_qs(urlsplit(whatsapp).query) == {"text": [f"{text} {link}"]}
    await expect(page.locator("#share-telegram")).to_have_attribute("target", "_blank")


async def test_share_without_a_share_sheet_copies_the_link(new_page) -> None:  # type: ignore[no-untyped-def]
    page = await new_page()
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await page.add_init_script("delete Navigator.prototype.share; delete Navigator.prototype.canShare;")
    await login(page, new_phone())
    assert await page.evaluate("() => 'share' in navigator") is False
    await page.click("#share-button")
    await expect(page.locator("[data-sonner-toast]").filter(has_text="Скопировано")).to_have_count(1)
    copied = await page.evaluate("() => navigator.clipboard.readText()")
    assert copied == await page.locator("#share-link").input_value()

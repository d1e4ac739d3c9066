"""`make run` outside demo mode: no start without SECRET_KEY or with the log SMS sender; with a key file the key
used for codes is the file's and nothing secret is written to the database; a code goes out through a provider
(a local fake SMS.ru) and its ledger row follows the provider's receipt."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from referral_app.services import security
from referral_app.services.server_keys import CODE_KEY_NAME
from tests.helpers import PRODUCTION_SECRET_KEY
from tests.support.ports import free_port
from tests.support.server import STARTUP_TIMEOUT, RunningServer, answers_health, launch_server, stop_server
from tests.support.sms_fakes import FakeProvider, Served, smsru_app

pytestmark = pytest.mark.server

PHONE = "+79123450077"
API_ID = "fake-api-id"
RECEIPT_SECRET = "receipt-secret-for-tests"


@pytest.fixture
def smsru() -> Iterator[tuple[FakeProvider, dict[str, str]]]:
    """A fake SMS.ru and the settings that point a server at it."""
    fake = FakeProvider("smsru")
    served = Served(smsru_app(fake, API_ID))
    yield (
        fake,
        {
            "SMS_PROVIDERS": "smsru",
            "SMSRU_API_ID": API_ID,
            "SMSRU_BASE_URL": served.base_url,
            "SMS_CALLBACK_SECRET": RECEIPT_SECRET,
            "SMS_STATUS_POLL_ATTEMPTS": "0",
        },
    )
    served.stop()
    assert fake.problems == []


def refused_start(server: RunningServer) -> bool:
    """Waits for the server to exit; whether it ever answered a health check."""
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        answered = False
        while server.process.poll() is None and time.monotonic() < deadline:
            answered = answered or answers_health(server)
            time.sleep(0.5)
        assert server.process.returncode not in (None, 0), "the server kept running"
    finally:
        stop_server(server)
    return answered


def test_the_server_refuses_to_start_with_the_log_sender(server_root: Path, tmp_path: Path) -> None:
    server = launch_server(server_root, tmp_path, DEMO_MODE="false", SECRET_KEY=PRODUCTION_SECRET_KEY)
    assert not refused_start(server)
    assert "not starting: the SMS sender is the log" in server.log()


def test_the_server_refuses_to_start_without_a_secret_key(server_root: Path, tmp_path: Path) -> None:
    server = launch_server(server_root, tmp_path, DEMO_MODE="false", SECRET_KEY="", SECRET_KEY_FILE="")
    assert not refused_start(server)
    assert "not starting: SECRET_KEY is not set" in server.log()


def test_with_a_key_file_codes_are_keyed_by_the_file_and_no_secret_is_stored(
    servers: Callable[..., RunningServer], tmp_path: Path, smsru: tuple[FakeProvider, dict[str, str]]
) -> None:
    key_file = tmp_path / "secret_key"
    key = security.new_secret_key()
    key_file.write_text(key + "\n")
    database = tmp_path / "production.db"
    server = servers(
        DEMO_MODE="false",
        SECRET_KEY="",
        SECRET_KEY_FILE=str(key_file),
        DATABASE_URL=f"sqlite:///{database}",
        **smsru[1],
    )
    answer = httpx.post(server.base_url + "/api/v1/auth/code", json={"phone": PHONE}, timeout=30)
    assert answer.status_code == 200 and "debug_code" not in answer.json()
    with sqlite3.connect(database) as db:
        stored = db.execute("SELECT code_hmac FROM login_codes WHERE phone = ?", (PHONE,)).fetchone()[0]
        secrets_rows = db.execute(
            "SELECT count(*) FROM server_secrets WHERE name = ?", (CODE_KEY_NAME,)
        ).fetchone()
    assert secrets_rows == (0,)
    # Exactly one 4-digit code matches under the file's key: the server used it.
    assert sum(security.code_hmac(key, PHONE, f"{n:04d}") == stored for n in range(10_000)) == 1


def test_a_code_goes_out_through_the_provider_and_the_ledger_follows_its_receipt(
    servers: Callable[..., RunningServer], tmp_path: Path, smsru: tuple[FakeProvider, dict[str, str]]
) -> None:
    fake, sms_settings = smsru
    database = tmp_path / "live.db"
    server = servers(
        DEMO_MODE="false", SECRET_KEY=PRODUCTION_SECRET_KEY, DATABASE_URL=f"sqlite:///{database}", **sms_settings
    )
    answer = httpx.post(server.base_url + "/api/v1/auth/code", json={"phone": PHONE}, timeout=30)
    assert answer.status_code == 200 and "debug_code" not in answer.json()
    [sent] = fake.sends()
    code = re.findall(r"#(\d{4})$", sent.form["msg"])[0]  # the SMS is the only place the code went
    assert "SMS to" not in server.log()  # the log sender's line

    def ledger() -> tuple[str, str]:
        with sqlite3.connect(database) as db:
            return db.execute("SELECT status, provider_message_id FROM sms_messages").fetchone()

    status, message_id = ledger()
    assert status == "accepted"
    receipt = httpx.post(
        server.base_url + "/api/v1/sms/status/smsru",
        params={"key": RECEIPT_SECRET},
        data={"data[0]": f"sms_status\n{message_id}\n103\n{int(time.time())}"},
        timeout=30,
    )
    assert (receipt.status_code, receipt.text) == (200, "100")
    assert ledger()[0] == "delivered"
    signed_in = httpx.post(server.base_url + "/api/v1/auth/token", json={"phone": PHONE, "code": code}, timeout=30)
    assert signed_in.status_code == 200


async def test_web_sign_in_outside_demo_mode_through_a_provider(
    servers: Callable[..., RunningServer],
    tmp_path: Path,
    smsru: tuple[FakeProvider, dict[str, str]],
    browser: Browser,
) -> None:
    """An operator's whole SMS path in a browser: a production-mode start with SMS.ru (its fake), sign-in on the page with
    the code the SMS carried, the ledger row `accepted`, then `delivered` on the provider's receipt."""
    fake, sms_settings = smsru
    port = free_port()
    database = tmp_path / "web.db"
    server = servers(
        port=port,
        DEMO_MODE="false",
        SECRET_KEY=PRODUCTION_SECRET_KEY,
        DATABASE_URL=f"sqlite:///{database}",
        ALLOWED_ORIGINS=f"http://127.0.0.1:{port},http://localhost:{port}",
        **sms_settings,
    )
    context = await browser.new_context(base_url=server.base_url)
    try:
        page = await context.new_page()
        await page.goto("/")
        await page.fill("#phone-input", PHONE)
        await page.click("#send-code")
        await expect(page.locator("#code-input")).to_be_visible(timeout=20_000)
        assert await page.locator("#demo-code").count() == 0  # no code on the page outside demo mode
        [sent] = fake.sends()
        code = re.findall(r"#(\d{4})$", sent.form["msg"])[0]
        await page.fill("#code-input", code)  # a full code submits itself
        await expect(page).to_have_url(re.compile(r"/profile$"), timeout=20_000)
    finally:
        await context.close()
    with sqlite3.connect(database) as db:
        status, message_id = db.execute("SELECT status, provider_message_id FROM sms_messages").fetchone()
    assert status == "accepted"
    receipt = httpx.post(
        server.base_url + "/api/v1/sms/status/smsru",
        params={"key": RECEIPT_SECRET},
        data={"data[0]": f"sms_status\n{message_id}\n103\n{int(time.time())}"},
        timeout=30,
    )
    assert receipt.text == "100"
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT status FROM sms_messages").fetchone() == ("delivered",)

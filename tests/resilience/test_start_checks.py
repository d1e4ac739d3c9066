"""`make run` outside demo mode: no start without SECRET_KEY, and with a key file the key used for codes is the
file's and nothing secret is written to the database."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from referral_app.services import security
from referral_app.services.server_keys import CODE_KEY_NAME
from tests.support.server import STARTUP_TIMEOUT, RunningServer, answers_health, launch_server, stop_server

pytestmark = pytest.mark.server

PHONE = "+79123450077"


def test_the_server_refuses_to_start_without_a_secret_key(server_root: Path, tmp_path: Path) -> None:
    server = launch_server(server_root, tmp_path, DEMO_MODE="false", SECRET_KEY="", SECRET_KEY_FILE="")
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        answered = False
        while server.process.poll() is None and time.monotonic() < deadline:
            answered = answered or answers_health(server)
            time.sleep(0.5)
        assert server.process.returncode not in (None, 0), "the server kept running without SECRET_KEY"
    finally:
        stop_server(server)
    assert not answered
    assert "not starting: SECRET_KEY is not set" in server.log()


def test_with_a_key_file_codes_are_keyed_by_the_file_and_no_secret_is_stored(
    servers: Callable[..., RunningServer], tmp_path: Path
) -> None:
    key_file = tmp_path / "secret_key"
    key = security.new_secret_key()
    key_file.write_text(key + "\n")
    database = tmp_path / "production.db"
    server = servers(
        DEMO_MODE="false", SECRET_KEY="", SECRET_KEY_FILE=str(key_file), DATABASE_URL=f"sqlite:///{database}"
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

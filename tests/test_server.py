"""The real server, started exactly the way `make run` starts it, answering over HTTP on one port."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.support.server import RunningServer

pytestmark = pytest.mark.server


def test_send_code_and_login_over_http(live_server: RunningServer) -> None:
    with httpx.Client(base_url=live_server.base_url, timeout=10) as http:
        sent = http.post("/api/v1/auth/code", json={"phone": "+7 912 345-67-89"})
        assert sent.status_code == 200, sent.text
        assert sent.json()["phone"] == "+79123456789"
        # The simulated SMS delivery delay is real: by the server's own audit trail, the SMS went out at
        # least SMS_DELAY_MIN (1 s by default) after the code was issued (10 ms for clock rounding).
        issued, delivered = audit_times(live_server, "+79123456789", "code_requested", "code_sent")
        assert (delivered - issued).total_seconds() >= 1.0 - 0.01, (issued, delivered)
        code = sent.json()["debug_code"]
        token = http.post("/api/v1/auth/token", json={"phone": "89123456789", "code": code})
        assert token.status_code == 200 and token.json()["is_new_user"] is True
        profile = http.get("/api/v1/profile", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
        assert profile.status_code == 200 and profile.json()["phone"] == "+79123456789"
    log = live_server.log()
    assert "SMS to +79123456789" in log
    # The code appears on the simulated SMS line only; the token never appears.
    assert sum(code in line for line in log.splitlines() if "SMS to" not in line and "debug_code" not in line) == 0
    assert token.json()["access_token"] not in log


def audit_times(server: RunningServer, phone: str, *events: str) -> list[datetime]:
    """When each of `events` last happened to `phone`, from the server's SQLite database (read only)."""
    database = server.log_path.parent / "server.db"  # where start_server puts it
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        latest = dict(
            db.execute(
                "SELECT event, MAX(created_at) FROM audit_events WHERE phone = ? GROUP BY event", (phone,)
            ).fetchall()
        )
    return [datetime.fromisoformat(latest[event]) for event in events]


def test_docs_and_web_app_share_the_port(live_server: RunningServer) -> None:
    with httpx.Client(base_url=live_server.base_url, timeout=10) as http:
        redoc = http.get("/redoc")
        assert redoc.status_code == 200 and "redoc" in redoc.text.lower()
        assert http.get("/docs").status_code == 200
        assert http.get("/openapi.json").json()["info"]["title"] == "referral_app API"
        page = http.get("/")
        assert page.status_code == 200 and "<html" in page.text.lower()
        missing = http.get("/api/does-not-exist")
        assert missing.status_code == 404 and missing.json()["code"] == "not_found"
        wrong_method = http.get("/api/v1/auth/code")
        assert wrong_method.status_code == 405 and wrong_method.json()["code"] == "method_not_allowed"


def test_migrations_were_applied_before_serving(live_server: RunningServer) -> None:
    log = live_server.log()
    assert log.index("applying database migrations") < log.index("database schema is up to date")


def test_sign_in_hardening_over_the_real_server(live_server: RunningServer) -> None:
    """Sign-in hardening on the real server: numbers without SMS are refused, a device token comes back, a verify
    without a live code counts nothing, and strangers behind the proxy are told apart and locked out."""
    phone, victim = "+79120004321", "+79120004322"
    with httpx.Client(base_url=live_server.base_url, timeout=10) as http:
        toll_free = http.post("/api/v1/auth/code", json={"phone": "+7 800 123-45-67"})
        assert (toll_free.status_code, toll_free.json()["code"]) == (422, "unsupported_number")
        no_code = http.post("/api/v1/auth/token", json={"phone": phone, "code": "0000"})
        assert (no_code.status_code, no_code.json()["code"]) == (400, "invalid_code")
        code = http.post("/api/v1/auth/code", json={"phone": phone}).json()["debug_code"]
        first = http.post("/api/v1/auth/token", json={"phone": phone, "code": code}).json()
        assert first["device_token"].startswith("rfd_")
        code = http.post("/api/v1/auth/code", json={"phone": victim}).json()["debug_code"]
        # Behind the (trusted, loopback) proxy: repeated X-Forwarded-For lines with ports, read as one list.
        stranger = httpx.Headers([("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "198.51.100.44:5555")])
        wrong = f"{(int(code) + 1) % 10_000:04d}"
        answers = [
            http.post("/api/v1/auth/token", json={"phone": victim, "code": wrong}, headers=stranger).json()["code"]
            for _ in range(10)
        ]
        assert answers == ["invalid_code"] * 4 + ["too_many_attempts"] * 5 + ["rate_limited"]
    assert "+79*****4322 locked for 28800 s" in live_server.log()


def test_make_run_listens_on_this_machine_only(live_server: RunningServer) -> None:
    """Demo mode shows every code: `make run` binds loopback unless HOST says otherwise."""
    port = int(live_server.base_url.rsplit(":", 1)[1])
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # LISTEN
                listening.append(address)
    assert listening == ["0100007F"], listening  # 127.0.0.1, as the kernel writes it

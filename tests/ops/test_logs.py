"""LOG_FORMAT=json on the production server: every line of its log is a JSON object, and a request's lines
carry its id (a proxy's X-Request-ID, echoed back), the masked phone and the client behind a trusted proxy."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.support.production import start_production_server
from tests.support.server import stop_server

pytestmark = pytest.mark.server

PHONE = "+79165551234"


def test_json_lines_carry_the_request_id_the_masked_phone_and_the_client(
    built_project: Path, tmp_path: Path
) -> None:
    server = start_production_server(
        built_project, tmp_path, LOG_FORMAT="json", SMS_DELAY_MIN="0", SMS_DELAY_MAX="0"
    )
    try:
        sent = httpx.post(
            server.base_url + "/api/v1/auth/code",
            json={"phone": PHONE},
            headers={"X-Request-ID": "req-42", "X-Forwarded-For": "203.0.113.9"},
            timeout=30,
        )
        assert sent.status_code == 200 and sent.headers["x-request-id"] == "req-42"
        fresh = httpx.get(
            server.base_url + "/api/health", headers={"X-Request-ID": "not tame; " + "x" * 80}, timeout=30
        )
        assert len(fresh.headers["x-request-id"]) == 32  # a new id: the offered one is not kept
    finally:
        stop_server(server)
    lines = [line for line in server.log().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line, granian's and Reflex's too
    ours = [e for e in entries if e.get("logger", "").startswith("referral_app")]
    sent_line = next(e for e in ours if e["message"].startswith("login code sent"))
    assert sent_line["request_id"] == "req-42"
    assert sent_line["phone"] == "+79*****1234"
    assert sent_line["client"] == "203.0.113.9"  # the peer (127.0.0.1) is a trusted proxy by default
    assert {"time", "level", "logger", "message"} <= set(sent_line)

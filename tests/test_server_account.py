"""Account features on the real server (`make run`) over HTTP: devices, sign out everywhere else, download
my data, delete with a code, a test number's fixed code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import RunningServer, start_server_of_its_own, stop_server

pytestmark = pytest.mark.server

PHONE = "+79123450077"
TEST_NUMBER, TEST_CODE = "+79990000001", "2468"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server_of_its_own(
        Path(__file__).resolve().parents[1],
        tmp_path_factory.mktemp("account-server"),
        CODE_RESEND_COOLDOWN_SECONDS="0",
        TEST_PHONE_NUMBERS=f"{TEST_NUMBER}:{TEST_CODE}",
    )
    yield running
    stop_server(running)


def sign_in(http: httpx.Client, phone: str, user_agent: str) -> dict[str, str]:
    sent = http.post("/api/v1/auth/code", json={"phone": phone})
    assert sent.status_code == 200, sent.text
    token = http.post(
        "/api/v1/auth/token",
        json={"phone": phone, "code": sent.json()["debug_code"]},
        headers={"User-Agent": user_agent},
    )
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def test_devices_export_and_deletion_over_http(server: RunningServer) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        old_phone = sign_in(http, PHONE, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Safari/604.1")
        laptop = sign_in(http, PHONE, "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")
        sessions = http.get("/api/v1/auth/sessions", headers=laptop).json()
        assert [(s["device_label"], s["client_ip"], s["current"]) for s in sessions] == [
            ("Firefox on Linux", "127.0.0.*", True),
            ("Safari on iPhone", "127.0.0.*", False),
        ]
        assert http.post("/api/v1/auth/logout", headers=laptop, json={"scope": "others"}).status_code == 204
        assert http.get("/api/v1/profile", headers=old_phone).json()["code"] == "not_authenticated"
        exported = http.get("/api/v1/profile/export", headers=laptop)
        assert exported.status_code == 200 and exported.json()["phone"] == PHONE
        assert [s["revoked_at"] is None for s in exported.json()["sessions"]] == [True, False]
        code = http.post("/api/v1/auth/code", json={"phone": PHONE}).json()["debug_code"]
        wrong = http.request(
            "DELETE", "/api/v1/profile", headers=laptop, json={"code": "0000" if code != "0000" else "1"}
        )
        assert wrong.json()["code"] == "invalid_code"
        assert http.request("DELETE", "/api/v1/profile", headers=laptop, json={"code": code}).status_code == 204
        assert http.get("/api/v1/profile", headers=laptop).status_code == 401
        again = sign_in(http, PHONE, "curl/8.5.0")  # the number registers afresh
        assert http.get("/api/v1/profile", headers=again).json()["referrals_count"] == 0


def test_a_test_number_signs_in_with_its_fixed_code(server: RunningServer) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        assert http.post("/api/v1/auth/code", json={"phone": TEST_NUMBER}).status_code == 200
        token = http.post("/api/v1/auth/token", json={"phone": TEST_NUMBER, "code": TEST_CODE})
        assert token.status_code == 200 and token.json()["user"]["phone"] == TEST_NUMBER
    assert f"SMS to {TEST_NUMBER}" not in server.log()  # no SMS went out

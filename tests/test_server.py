"""The real server, started exactly the way `make run` starts it, answering over HTTP on one port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.server

STARTUP_TIMEOUT = 600  # the first start installs the front end's npm packages and builds it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningServer:
    def __init__(self, base_url: str, process: subprocess.Popen, log_path: Path) -> None:
        self.base_url, self.process, self.log_path = base_url, process, log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(repo_root: Path, tmp_path: Path, **env: str) -> RunningServer:
    port = free_port()
    log_path = tmp_path / f"server-{port}.log"
    environment = {
        **os.environ,
        "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'server.db'}",
        "DEMO_MODE": "true",
        **env,
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "run"],
            cwd=repo_root,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one process group: stopping it stops Reflex and its workers
        )
    server = RunningServer(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{server.log()[-5000:]}")
        try:
            if httpx.get(server.base_url + "/api/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(1)
    stop_server(server)
    raise AssertionError(f"server did not become healthy:\n{server.log()[-5000:]}")


def stop_server(server: RunningServer) -> None:
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    repo_root = Path(__file__).resolve().parents[1]
    running = start_server(repo_root, tmp_path_factory.mktemp("server"))
    yield running
    stop_server(running)


def test_send_code_and_login_over_http(server: RunningServer) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        started = time.monotonic()
        sent = http.post("/api/v1/auth/code", json={"phone": "+7 912 345-67-89"})
        elapsed = time.monotonic() - started
        assert sent.status_code == 200, sent.text
        assert sent.json()["phone"] == "+79123456789"
        assert 1.0 <= elapsed < 3.5  # the simulated SMS delivery delay is real
        code = sent.json()["debug_code"]
        token = http.post("/api/v1/auth/token", json={"phone": "89123456789", "code": code})
        assert token.status_code == 200 and token.json()["is_new_user"] is True
        profile = http.get("/api/v1/profile", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
        assert profile.status_code == 200 and profile.json()["phone"] == "+79123456789"
    log = server.log()
    assert "SMS to +79123456789" in log
    # The code appears on the simulated SMS line only; the token never appears.
    assert sum(code in line for line in log.splitlines() if "SMS to" not in line and "debug_code" not in line) == 0
    assert token.json()["access_token"] not in log


def test_docs_and_web_app_share_the_port(server: RunningServer) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
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


def test_migrations_were_applied_before_serving(server: RunningServer) -> None:
    log = server.log()
    assert "database schema is up to date" in log
    assert log.index("database schema is up to date") < log.index("SMS to")

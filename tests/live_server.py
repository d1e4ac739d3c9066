"""The real server for integration and browser tests, started exactly the way `make run` starts it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

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


def start_server(repo_root: Path, tmp_path: Path, *, port: int | None = None, **env: str) -> RunningServer:
    """`make run` in `repo_root` on `port` (a free one by default); `env` overrides the environment.

    The log goes to `tmp_path/server-<port>.log`, appended to, so a restart on the same port keeps the story."""
    port = port or free_port()
    log_path = tmp_path / f"server-{port}.log"
    environment = {
        **os.environ,
        "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'server.db'}",
        "DEMO_MODE": "true",
        **env,
    }
    with open(log_path, "ab") as log:
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

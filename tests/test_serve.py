"""The container's server command (referral_app/serve.py): it refuses to start without what it needs,
with a clear message, instead of serving something broken. The image itself is tested by `make docker-test`."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from referral_app.core.config import Settings
from referral_app.lifespan import is_loopback, warn_if_demo_is_exposed
from referral_app.serve import wait_for_redis
from tests.helpers import PRODUCTION_SECRET_KEY, configure

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_gives_up_on_unreachable_redis_after_bounded_tries() -> None:
    with pytest.raises(SystemExit) as exited:
        wait_for_redis("redis://user:s3cret@127.0.0.1:1/0", attempts=2, delay=0)
    assert exited.value.code == 1


def test_refuses_to_start_without_a_prebuilt_front_end(tmp_path: Path) -> None:
    env = {**os.environ, "REFLEX_WEB_WORKDIR": str(tmp_path / "no-web"), "PORT": "1", "DEMO_MODE": "true"}
    result = subprocess.run(
        [sys.executable, "-m", "referral_app.serve"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "no prebuilt front end" in result.stderr and "reflex export" in result.stderr


def test_refuses_to_start_without_a_secret_key_outside_demo_mode(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "SECRET_KEY_FILE")}
    env.update(DEMO_MODE="false", PORT="1", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite'}")
    result = subprocess.run(
        [sys.executable, "-m", "referral_app.serve"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "SECRET_KEY is not set" in result.stderr and "SECRET_KEY_FILE" in result.stderr
    assert not (tmp_path / "db.sqlite").exists()  # nothing was started, not even the database


def test_refuses_to_start_with_the_log_sender_outside_demo_mode(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMS_", "SECRET_KEY"))}
    env.update(
        DEMO_MODE="false",
        PORT="1",
        SECRET_KEY="tests-only-secret-key-0123456789abcdef",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite'}",
    )
    result = subprocess.run(
        [sys.executable, "-m", "referral_app.serve"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "not starting: the SMS sender is the log" in result.stderr and "SMS_PROVIDERS" in result.stderr
    assert not (tmp_path / "db.sqlite").exists()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        *[("127.0.0.1", True), ("127.8.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True)],
        *[("0.0.0.0", False), ("::", False), ("192.0.2.10", False), ("example.com", False)],
    ],
)
def test_which_listening_addresses_are_this_machine_only(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("demo", "host", "warned"), [(True, "0.0.0.0", True), (True, "127.0.0.1", False), (False, "0.0.0.0", False)]
)
def test_demo_mode_reachable_from_the_network_is_said_loudly(
    settings: Settings, caplog: pytest.LogCaptureFixture, demo: bool, host: str, warned: bool
) -> None:
    configure(settings, demo_mode=demo, secret_key=None if demo else PRODUCTION_SECRET_KEY)
    with caplog.at_level(logging.WARNING, logger="referral_app.lifespan"):
        warn_if_demo_is_exposed(host)
    assert any("DEMO MODE IS REACHABLE FROM THE NETWORK" in r.getMessage() for r in caplog.records) is warned

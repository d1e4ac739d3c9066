"""LOG_FORMAT: human-readable lines by default, one JSON object per line with `json`, a clear refusal otherwise."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SCRIPT = """
import logging
from referral_app.core.log_setup import configure_logging, log_phone
configure_logging()
log_phone("+79*****6789")
logging.getLogger("referral_app.example").warning("limit reached for %s", "someone")
try:
    raise ValueError("boom")
except ValueError:
    logging.getLogger("referral_app.example").exception("failed")
"""


def run(log_format: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LOG_FORMAT"}
    if log_format is not None:
        env["LOG_FORMAT"] = log_format
    return subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60)


def test_the_default_is_human_readable() -> None:
    first = run(None).stderr.splitlines()[0]
    assert "WARNING [referral_app.example] limit reached for someone" in first
    assert not first.startswith("{")


def test_json_is_one_object_per_line_with_the_context() -> None:
    lines = run("json").stderr.splitlines()
    assert len(lines) == 2  # the traceback stays inside its line
    warning, failure = (json.loads(line) for line in lines)
    assert warning["level"] == "warning" and warning["logger"] == "referral_app.example"
    assert warning["message"] == "limit reached for someone"
    assert warning["phone"] == "+79*****6789"
    assert warning["request_id"] is None and warning["client"] is None  # logged outside any request
    assert warning["time"].endswith("+00:00")
    assert failure["message"] == "failed" and "ValueError: boom" in failure["exception"]


def test_an_unknown_format_is_refused_with_the_choices() -> None:
    result = run("xml")
    assert result.returncode != 0 and "LOG_FORMAT must be one of text, json" in result.stderr

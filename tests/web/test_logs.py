"""What the web app logs for a browser: one escaped, bounded line; Reflex's tab tokens cut short."""

from __future__ import annotations

import logging

import pytest

from referral_app.web.logs import TabTokenMask, log_frontend_error, one_line


def test_reports_are_one_escaped_bounded_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="referral_app.web.logs"):
        log_frontend_error(
            Exception("boom\n2099-01-01 INFO [referral_app.sms] SMS to +79990000000\x1b[31m" + "y" * 5000)
        )
    (line,) = caplog.messages
    assert "\n" not in line and "\x1b" not in line and "\\n2099" in line and "\\x1b" in line
    assert len(line) < 2100
    assert one_line("короткий\tтекст", 100) == "короткий\\tтекст"


def test_tab_tokens_are_masked() -> None:
    record = logging.LogRecord(
        "reflex.app",
        logging.WARNING,
        __file__,
        1,
        "send delta to %r",
        ("d07a1c2e-4f5b-4c3d-9e8f-0123456789ab",),
        None,
    )
    TabTokenMask().filter(record)
    assert record.getMessage() == "send delta to 'd07a…'"

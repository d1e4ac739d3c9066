"""SMS settings: providers named and complete, secrets from files, and no log sender outside demo mode."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from referral_app.core.config import Settings


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)


def test_the_log_sender_is_refused_outside_demo_mode_only() -> None:
    assert "writes every login code to the server log" in (
        settings(demo_mode=False).log_sender_outside_demo() or ""
    )
    assert settings(demo_mode=True).log_sender_outside_demo() is None
    logged = settings(demo_mode=False, sms_providers="smsru,log", smsru_api_id="x")
    assert logged.log_sender_outside_demo() is not None  # the log anywhere in the list
    assert settings(demo_mode=False, sms_providers="smsru", smsru_api_id="x").log_sender_outside_demo() is None
    assert settings(demo_mode=False, sms_sender="mypackage.sms:Sender").log_sender_outside_demo() is None
    custom_listed = settings(demo_mode=False, sms_providers="custom", sms_sender="mypackage.sms:Sender")
    assert custom_listed.log_sender_outside_demo() is None


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"sms_providers": "smsru"}, "SMSRU_API_ID"),
        ({"sms_providers": "smsc", "smsc_login": "acme"}, "SMSC_API_KEY, or SMSC_LOGIN and SMSC_PASSWORD"),
        ({"sms_providers": "smsaero", "smsaero_email": "a@b.c"}, "SMSAERO_EMAIL and SMSAERO_API_KEY"),
        ({"sms_providers": "twilio", "twilio_account_sid": "AC1", "twilio_auth_token": "t"}, "TWILIO_FROM"),
        ({"sms_providers": "http"}, "SMS_HTTP_URL"),
        ({"sms_providers": "smsru,nexmo"}, "unknown SMS providers ['nexmo']"),
        ({"sms_providers": "smsru,smsru", "smsru_api_id": "x"}, "listed twice"),
    ],
)
def test_a_provider_without_its_settings_stops_the_start(values: dict[str, object], named: str) -> None:
    with pytest.raises(ValidationError, match=named.replace("[", r"\[").replace("]", r"\]")):
        settings(**values)


def test_secrets_come_from_files(tmp_path: Path) -> None:
    (tmp_path / "api_id").write_text("from-a-file\n")
    (tmp_path / "token").write_text("twilio-token\n")
    s = settings(
        sms_providers="smsru,twilio",
        smsru_api_id_file=tmp_path / "api_id",
        twilio_account_sid="AC1",
        twilio_auth_token_file=tmp_path / "token",
        twilio_from="+15005550006",
    )
    assert (s.smsru_api_id, s.twilio_auth_token) == ("from-a-file", "twilio-token")
    assert "from-a-file" not in repr(s)
    with pytest.raises(ValidationError, match="set SMSRU_API_ID or SMSRU_API_ID_FILE, not both"):
        settings(smsru_api_id="x", smsru_api_id_file=tmp_path / "api_id")
    with pytest.raises(ValidationError, match=r"SMSC_PASSWORD_FILE .* cannot be read"):
        settings(smsc_password_file=tmp_path / "missing")


def test_headers_of_the_generic_provider_are_json() -> None:
    assert settings(sms_http_headers='{"X-Api-Key": "k"}').sms_http_headers == {"X-Api-Key": "k"}


@pytest.mark.parametrize(
    ("overrides", "simulated"),
    [
        ({}, True),  # the log sender, by default
        ({"sms_providers": ["log"]}, True),
        ({"sms_sender": "tests.support.failing_sms:FailingSender"}, False),
        ({"sms_providers": ["custom"], "sms_sender": "tests.support.failing_sms:FailingSender"}, False),
    ],
)
def test_only_the_log_sender_waits_the_simulated_delivery_time(overrides: dict, simulated: bool) -> None:
    assert Settings(_env_file=None, demo_mode=True, **overrides).simulates_sms is simulated

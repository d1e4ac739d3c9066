"""ALLOWED_ORIGINS and the default allow-list of the web app's origins (Settings.web_origins)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from referral_app.core.config import Settings, origin_of


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("http://localhost:3000", "http://localhost:3000"),
        ("https://App.Example.com/path?q=1", "https://app.example.com"),
        ("https://app.example.com:443", "https://app.example.com"),
        ("http://[::1]:8080/", "http://[::1]:8080"),
        ("ftp://example.com", None),
        ("not a url", None),
        ("http://host:99999", None),
    ],
)
def test_origin_of(url: str, origin: str | None) -> None:
    assert origin_of(url) == origin


def test_the_default_is_the_built_origin_plus_loopback_in_demo_mode() -> None:
    built = ("http://localhost:3000", "http://localhost:3000/")
    assert Settings(_env_file=None, demo_mode=False).web_origins(*built, port=3000) == ("http://localhost:3000",)
    assert Settings(_env_file=None, demo_mode=True).web_origins("https://app.example.com", None, port=3000) == (
        "http://127.0.0.1:3000",
        "http://[::1]:3000",
        "http://localhost:3000",
        "https://app.example.com",
    )
    # Built for a load balancer on another loopback port: its spellings are allowed too.
    assert "http://127.0.0.1:8080" in Settings(_env_file=None, demo_mode=True).web_origins(
        "http://localhost:8080", port=3000
    )


def test_allowed_origins_replace_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://app.example.com/, http://intranet:8080")
    settings = Settings(_env_file=None, demo_mode=True)
    assert settings.web_origins("http://localhost:3000", port=3000) == (
        "https://app.example.com",
        "http://intranet:8080",
    )
    monkeypatch.setenv("ALLOWED_ORIGINS", "*")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)

"""SECRET_KEY settings: the key comes from the environment or a file, is long enough, and is required outside
demo mode (the server's start refuses without it: tests/test_serve.py, tests/resilience/test_start_checks.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from referral_app.core.config import Settings

KEY = "k" * 32


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)


def test_the_key_may_come_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    path.write_text(KEY + "\n")
    assert settings(secret_key_file=path).secret_key == KEY


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"secret_key": "short"}, "at least 32 characters"),
        ({"secret_key": KEY, "secret_key_file": "/etc/hostname"}, "not both"),
        ({"secret_key_file": "/nonexistent/secret"}, "cannot be read"),
        ({"secret_key_fallbacks": "short-old-key"}, "at least 32 characters"),
    ],
)
def test_bad_keys_are_refused_with_the_reason(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(**values)


def test_a_short_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    path.write_text("too short\n")
    with pytest.raises(ValidationError, match="at least 32 characters"):
        settings(secret_key_file=path)


def test_fallbacks_are_a_comma_separated_list() -> None:
    assert settings(secret_key_fallbacks=f"{KEY}, {'o' * 40}").secret_key_fallbacks == [KEY, "o" * 40]


def test_only_demo_mode_may_run_without_a_key() -> None:
    assert settings(demo_mode=True).missing_secret_key() is None
    assert settings(secret_key=KEY, demo_mode=False).missing_secret_key() is None
    problem = settings(demo_mode=False).missing_secret_key()
    assert problem is not None and "SECRET_KEY" in problem and "SECRET_KEY_FILE" in problem


def test_the_key_is_not_shown_in_the_settings_repr() -> None:
    shown = repr(settings(secret_key=KEY, secret_key_fallbacks=[KEY]))
    assert KEY not in shown


def test_empty_variables_mean_unset() -> None:
    assert settings(secret_key="", secret_key_file="", demo_mode=True).secret_key is None

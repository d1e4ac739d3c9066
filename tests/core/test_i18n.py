"""The translation tables are complete: every message in every language, every error code translated."""

from __future__ import annotations

import string

import pytest

from referral_app.core.config import Settings
from referral_app.core.i18n import LANGUAGES, MESSAGES, humanize_seconds
from referral_app.services import errors
from referral_app.web.texts import UI_TEXTS, ui_text, ui_texts


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("entry", [*MESSAGES.values(), *UI_TEXTS.values()])
def test_every_message_exists_in_every_language_with_the_same_placeholders(entry: dict[str, str]) -> None:
    assert set(entry) == set(LANGUAGES)
    assert len({frozenset(_placeholders(text)) for text in entry.values()}) == 1, entry


def test_every_service_error_has_a_message() -> None:
    codes = {cls.code for cls in errors.ServiceError._by_code.values()}
    assert codes >= {
        "invalid_phone",
        "rate_limited",
        "invalid_code",
        "too_many_attempts",
        "not_authenticated",
        "invite_code_not_found",
        "own_invite_code",
        "invite_already_activated",
        "referral_cycle",
    }
    for code in codes:
        assert f"error.{code}" in MESSAGES


def test_errors_survive_a_round_trip_and_translate() -> None:
    original = errors.InvalidCode(attempts_left=3)
    restored = errors.ServiceError.from_dict(original.to_dict())
    assert type(restored) is errors.InvalidCode
    assert restored.message("ru") == "Код неверный или устарел. Осталось попыток: 3."
    locked = errors.ServiceError.from_dict(errors.RateLimited(retry_after=3600).to_dict())
    assert locked.message("en") == "Too many requests. Try again in 60 min."
    assert locked.message("ru") == "Слишком много запросов. Повторите через 60 мин."


def test_waits_read_naturally() -> None:
    assert humanize_seconds(42) == "42 s"
    assert humanize_seconds(3599, "ru") == "60 мин"
    assert humanize_seconds(121) == "3 min"


def test_ui_texts_fall_back_to_the_default_language() -> None:
    ru, en = ui_texts("ru"), ui_texts("en")
    assert ru.keys() == en.keys() == UI_TEXTS.keys() and "login.title" in ru
    assert ui_texts("xx") == ru
    assert ui_text("login.title", "de") == ru["login.title"]


def test_ui_texts_state_the_configured_code_length(settings: Settings) -> None:
    from tests.helpers import configure

    configure(settings, code_length=6)
    assert "6" in ui_texts("en")["login.subtitle"] and "{" not in ui_texts("en")["login.subtitle"]
    assert "6" in ui_text("login.subtitle", "ru")


@pytest.mark.parametrize(
    "tampered",
    [
        None,
        "invalid_code",
        {"code": "invalid_code", "params": {}},
        {"code": "invalid_code", "params": {"attempts_left": "3"}},
        {"code": "invalid_code", "params": {"attempts_left": 3, "extra": 1}},
        {"code": "rate_limited", "retry_after": None, "params": {}},
        {"code": "rate_limited", "retry_after": True, "params": {}},
        {"code": "no_such_code"},
        {"code": ["not", "hashable"]},
    ],
)
def test_an_error_dict_from_a_client_never_breaks_translation(tampered: object) -> None:
    """Stored errors pass through the browser: anything malformed becomes the generic error, not a crash."""
    restored = errors.ServiceError.from_dict(tampered)
    assert type(restored) is errors.ServiceError
    assert restored.message("ru") == errors.ServiceError().message("ru")

import contextlib

import pytest

from referral_app.limits import PHONES_CACHED
from referral_app.services.errors import InvalidPhone
from referral_app.services.phones import _e164, format_phone, mask_phone, normalize_phone


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("+7 912 345-67-89", None),
        ("89123456789", None),
        ("9123456789", None),
        ("8 (912) 345 67 89", "RU"),
        (" +79123456789 ", "ru"),
        ("9123456789", "KZ"),  # Kazakhstan shares +7
    ],
)
def test_accepted_forms_give_e164(raw: str, region: str | None) -> None:
    assert normalize_phone(raw, region) == "+79123456789"


def test_other_countries() -> None:
    assert normalize_phone("+44 20 7946 0958") == "+442079460958"
    assert normalize_phone("(201) 555-0123", "US") == "+12015550123"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "12",
        "abc",
        "+7 000 000-00-00",
        "8912345678",
        "891234567890123",
        "+" + "9" * 40,
        "'; DROP TABLE users;--",
    ],
)
def test_invalid_numbers_are_rejected(raw: str) -> None:
    for _ in range(2):  # the second answer comes from the cache of answers
        with pytest.raises(InvalidPhone) as caught:
            normalize_phone(raw)
        assert caught.value.code == "invalid_phone"
        assert caught.value.status_code == 422


def test_cached_answers_are_the_same_and_bounded() -> None:
    """Answers are kept per (typed text, region): the same text read in another region is its own answer, and
    a flood of distinct inputs keeps at most PHONES_CACHED of them."""
    assert [normalize_phone("9123456789", region) for region in ("RU", "KZ", "RU")] == ["+79123456789"] * 3
    assert normalize_phone("(201) 555-0123", "US") == "+12015550123"
    with pytest.raises(InvalidPhone):
        normalize_phone("(201) 555-0123", "RU")
    for n in range(PHONES_CACHED + 50):
        with contextlib.suppress(InvalidPhone):
            normalize_phone(f"+7 912 {n:07d}")
    assert _e164.cache_info().currsize <= PHONES_CACHED
    assert normalize_phone("8 (912) 345 67 89") == "+79123456789"


def test_unknown_region_is_rejected() -> None:
    with pytest.raises(InvalidPhone):
        normalize_phone("9123456789", "ZZ")


def test_default_region_is_configurable() -> None:
    assert normalize_phone("(201) 555-0123", default_region="US") == "+12015550123"


def test_mask_hides_the_middle() -> None:
    assert mask_phone("+79123456789") == "+79*****6789"
    assert "345" not in mask_phone("+79123456789")


@pytest.mark.parametrize(
    ("e164", "shown"),
    [
        ("+79135550001", "+7 913 555-00-01"),
        ("+14155550123", "+1 415-555-0123"),
        ("+442079460958", "+44 20 7946 0958"),
        ("not a number", "not a number"),  # shown as it is rather than hidden
    ],
)
def test_phones_are_shown_as_people_write_them(e164: str, shown: str) -> None:
    assert format_phone(e164) == shown

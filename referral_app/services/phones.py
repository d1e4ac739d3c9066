"""Phone number parsing: whatever people type in, E.164 out."""

from __future__ import annotations

import phonenumbers

from referral_app.limits import PHONE_INPUT_MAX_LENGTH
from referral_app.services.errors import InvalidPhone, UnsupportedNumber


def normalize_phone(raw: str, region: str | None = None, *, default_region: str = "RU") -> str:
    """Return the E.164 form of `raw` (`+79123456789`) or raise InvalidPhone.

    `89123456789` and `9123456789` are read in `region` (Russian trunk prefix 8 included).
    """
    region = (region or default_region).strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidPhone()
    text = (raw or "").strip()
    if not text or len(text) > PHONE_INPUT_MAX_LENGTH:
        raise InvalidPhone()
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidPhone() from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone()
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def format_phone(phone: str) -> str:
    """How people write an E.164 number (`+7 913 555-00-01`); what cannot be parsed is shown as it is."""
    try:
        number = phonenumbers.parse(phone)
    except phonenumbers.NumberParseException:
        return phone
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def mask_phone(phone: str) -> str:
    """For logs: keep the country and the last digits only."""
    return phone[:3] + "*" * max(0, len(phone) - 7) + phone[-4:] if len(phone) > 7 else "***"


def sms_country(phone: str, *, number_types: list[str], allowed_regions: list[str]) -> str:
    """The country calling code (`+7`) of an E.164 number that may get an SMS from us, or UnsupportedNumber
    (with `reason`: "number_type" or "region") for toll-free, premium-rate, fixed-line and other numbers that
    receive no SMS (or bill us for one), and for regions outside ALLOWED_REGIONS (empty: every region)."""
    number = phonenumbers.parse(phone)
    kind = phonenumbers.number_type(number)
    if phonenumbers.PhoneNumberType.to_string(kind) not in number_types:
        raise UnsupportedNumber(reason="number_type")
    if allowed_regions and phonenumbers.region_code_for_number(number) not in allowed_regions:
        raise UnsupportedNumber(reason="region")
    return f"+{number.country_code}"

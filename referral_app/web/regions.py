"""The web app's country picker."""

from __future__ import annotations

import phonenumbers

# Offered in the web app's country picker; numbers from anywhere else work when typed with +country.
COMMON_REGIONS = (
    "RU",
    "KZ",
    "BY",
    "UZ",
    "KG",
    "AM",
    "AZ",
    "GE",
    "MD",
    "TJ",
    "UA",
    "TR",
    "IL",
    "AE",
    "DE",
    "FR",
    "GB",
    "ES",
    "IT",
    "NL",
    "PL",
    "FI",
    "US",
    "CA",
    "CN",
    "IN",
)


def region_choices() -> list[tuple[str, str]]:
    """(region, "RU +7") pairs for a country picker."""
    return [(r, f"{r} +{phonenumbers.country_code_for_region(r)}") for r in COMMON_REGIONS]


# The picker's options as the page gets them, built once: every tab's LoginState.regions holds this list.
REGION_OPTIONS: list[list[str]] = [[code, label] for code, label in region_choices()]

"""What every SMS provider speaks: the statuses of the ledger, an accepted message, a status report, a
provider's failure, and the provider interface the failover (delivery.py) drives."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum

import httpx

from referral_app.limits import SMS_ERROR_MAX_LENGTH


class Status(StrEnum):
    QUEUED = "queued"  # written with the code; no provider has answered yet
    ACCEPTED = "accepted"  # a provider took the message
    SENT = "sent"  # handed to the operator's network
    DELIVERED = "delivered"  # the phone has it (final)
    UNDELIVERED = "undelivered"  # the network gave up: number off, unknown, expired (final)
    FAILED = "failed"  # no provider took it, or one rejected it after taking it (final)


FINAL = frozenset({Status.DELIVERED, Status.UNDELIVERED, Status.FAILED})
# A status moves forward only: a receipt that would move it back (or repeat it) is a replay and changes nothing.
RANK = {Status.QUEUED: 0, Status.ACCEPTED: 1, Status.SENT: 2, **dict.fromkeys(FINAL, 3)}


@dataclass(frozen=True)
class Accepted:
    """A provider's yes: its id for the message (for receipts and status queries) and the price it named."""

    provider: str
    message_id: str | None
    status: Status = Status.ACCEPTED
    cost: Decimal | None = None
    currency: str | None = None


@dataclass(frozen=True)
class StatusReport:
    """One message's status from a receipt or a status query."""

    message_id: str
    status: Status
    error: str | None = None
    cost: Decimal | None = None
    currency: str | None = None


class ProviderError(Exception):
    """A provider did not take the message: an error answer, a refusal of the number, a rate limit, a bad
    answer. `reason` is short and safe to log (no text, no code)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason[:SMS_ERROR_MAX_LENGTH])
        self.reason = reason[:SMS_ERROR_MAX_LENGTH]


def to_decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def digits(phone: str) -> str:
    """E.164 without the plus: the form the Russian providers document (79255070602)."""
    return phone.removeprefix("+")


def json_answer(response: httpx.Response, provider: str) -> dict[str, object]:
    """The JSON object of an answer, or ProviderError naming the HTTP status when there is none."""
    try:
        body = response.json()
    except ValueError:
        raise ProviderError(f"{provider}: HTTP {response.status_code}, not JSON") from None
    if not isinstance(body, dict):
        raise ProviderError(f"{provider}: HTTP {response.status_code}, unexpected answer")
    return body


class Provider:
    """A built-in provider. `send` returns Accepted or raises ProviderError (or httpx's errors, which the
    failover reports by class). Providers whose status is pulled also implement `fetch_status`."""

    name: str = ""
    pulls_status = False

    async def send(self, phone: str, text: str, *, timeout: float) -> Accepted:
        raise NotImplementedError

    async def fetch_status(self, message_id: str, *, timeout: float) -> StatusReport | None:
        return None

"""Failover over the configured providers within one time budget, and a circuit breaker per provider.

Each provider in SMS_PROVIDERS is tried in order until one accepts, all within SMS_TIMEOUT_SECONDS in total:
a provider that errors, refuses the number or takes longer than its share of the time left (an equal share
among the providers still to try) hands over to the next. A
provider that failed SMS_BREAKER_FAILURES times in a row is skipped for SMS_BREAKER_COOLDOWN_SECONDS, then
tried again (one failure then opens it again at once; a success closes it). The breaker is per process."""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from referral_app.core import metrics
from referral_app.core.clock import utcnow
from referral_app.core.config import Settings
from referral_app.services.sms import configured_providers
from referral_app.services.sms.base import Accepted, Provider, ProviderError

log = logging.getLogger("referral_app.sms")


class AllProvidersFailed(Exception):
    """No provider took the message; `reason` says what each did (short, no text or code)."""

    def __init__(self, failures: list[str]) -> None:
        self.failures = failures
        self.reason = "; ".join(failures) or "no SMS provider"
        super().__init__(self.reason)


@dataclass
class _Circuit:
    failures_in_row: int = 0
    open_until: datetime | None = None


_circuits: dict[str, _Circuit] = {}
_lock = threading.Lock()


def breaker_allows(name: str, now: datetime) -> bool:
    with _lock:
        circuit = _circuits.get(name)
        return circuit is None or circuit.open_until is None or circuit.open_until <= now


def _record(name: str, ok: bool, now: datetime, s: Settings) -> None:
    with _lock:
        circuit = _circuits.setdefault(name, _Circuit())
        if ok:
            circuit.failures_in_row, circuit.open_until = 0, None
            return
        circuit.failures_in_row += 1
        if circuit.failures_in_row >= s.sms_breaker_failures:
            circuit.open_until = now + timedelta(seconds=s.sms_breaker_cooldown_seconds)
            log.warning(
                "SMS provider %s failed %d times in a row: skipped for %g s",
                name,
                circuit.failures_in_row,
                s.sms_breaker_cooldown_seconds,
            )


def reset_breakers() -> None:
    with _lock:
        _circuits.clear()


def describe(failure: BaseException) -> str:
    if isinstance(failure, ProviderError):
        return failure.reason
    if isinstance(failure, TimeoutError | httpx.TimeoutException):
        return "timeout"
    return type(failure).__name__


async def deliver(phone: str, text: str, s: Settings) -> Accepted:
    """Send through the first provider that accepts, within SMS_TIMEOUT_SECONDS in all; AllProvidersFailed
    when none did. Each provider may use an equal share of the time left among those still to try (the last
    one all of it), so one that hangs leaves time for the next."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + s.sms_timeout_seconds
    failures: list[str] = []
    candidates: list[Provider] = []
    for provider in configured_providers(s):
        if breaker_allows(provider.name, utcnow()):
            candidates.append(provider)
        else:
            failures.append(f"{provider.name}: cooling off")
    for position, provider in enumerate(candidates):
        remaining = deadline - loop.time()
        if remaining <= 0:
            failures.append(f"{provider.name}: no time left")
            continue
        share = remaining / (len(candidates) - position)
        try:
            async with asyncio.timeout(share):
                accepted = await provider.send(phone, text, timeout=share)
        except Exception as failure:  # any provider failure hands over to the next one
            reason = describe(failure)
            failures.append(reason if reason.startswith(provider.name) else f"{provider.name}: {reason}")
            _record(provider.name, False, utcnow(), s)
            log.warning("SMS provider %s failed: %s", provider.name, reason)
            metrics.sms_status(provider.name, metrics.SMS_ERROR)
            continue
        _record(provider.name, True, utcnow(), s)
        metrics.sms_status(accepted.provider, accepted.status.value)
        return accepted
    raise AllProvidersFailed(failures)

"""Status queries for providers whose delivery status is pulled (SMS.ru, SMS Aero): a task per accepted
message asks every SMS_STATUS_POLL_SECONDS, at most SMS_STATUS_POLL_ATTEMPTS times, and stops at a final
status. At most SMS_STATUS_POLLS_MAX messages are followed at once per process; more are left unpolled (their
ledger rows keep the provider's first answer). Tasks end with the process."""

from __future__ import annotations

import asyncio
import logging

from referral_app.core import metrics
from referral_app.core.config import Settings
from referral_app.services.bridge import run_with_session
from referral_app.services.sms import provider_named
from referral_app.services.sms.base import FINAL, Accepted, Provider
from referral_app.services.sms.delivery import describe
from referral_app.services.sms.ledger import apply_report

log = logging.getLogger("referral_app.sms")

_running: set[asyncio.Task[None]] = set()


def follow(accepted: Accepted, s: Settings) -> asyncio.Task[None] | None:
    """Start following an accepted message when its provider's status is pulled; the task, or None."""
    provider = provider_named(s, accepted.provider)
    if provider is None or not provider.pulls_status or not accepted.message_id or accepted.status in FINAL:
        return None
    if s.sms_status_poll_attempts == 0:
        return None
    if len(_running) >= s.sms_status_polls_max:
        log.warning("SMS status polling is at its bound (%d messages); this one is not followed", len(_running))
        return None
    task = asyncio.get_running_loop().create_task(_poll(provider, accepted.message_id, s))
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task


def following() -> int:
    return len(_running)


async def _poll(provider: Provider, message_id: str, s: Settings) -> None:
    for _ in range(s.sms_status_poll_attempts):
        await asyncio.sleep(s.sms_status_poll_seconds)
        try:
            report = await provider.fetch_status(message_id, timeout=s.sms_timeout_seconds)
            if report is None:
                continue
            status = await run_with_session(apply_report, provider=provider.name, report=report, settings=s)
            if status is not None:
                metrics.sms_status(provider.name, status.value)
        except Exception as failure:  # a failed query is tried again at the next interval
            log.warning("SMS status query to %s failed: %s", provider.name, describe(failure))
            continue
        if status in FINAL or report.status in FINAL:
            return

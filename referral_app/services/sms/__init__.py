"""SMS delivery: built-in providers chosen by SMS_PROVIDERS (an ordered list: the next is tried when one
fails), or a class of your own named by SMS_SENDER (`package.module:ClassName`, implementing SmsSender).

The log sender only writes the message to the log: it is for demo mode, and the server refuses to start with
it otherwise (Settings.log_sender_outside_demo)."""

from __future__ import annotations

import asyncio
import importlib
import logging
import secrets
from functools import lru_cache
from typing import Protocol, runtime_checkable

from referral_app.core.config import LOG_SMS_SENDER, Settings, get_settings
from referral_app.services.sms.base import Accepted, Provider

log = logging.getLogger("referral_app.sms")


@runtime_checkable
class SmsSender(Protocol):
    """A custom sender: raise on failure; return None, or Accepted to give the ledger its id and cost."""

    async def send(self, phone: str, text: str) -> Accepted | None: ...


class LogSmsSender:
    """Simulated delivery (demo mode): it takes SMS_DELAY_MIN..SMS_DELAY_MAX seconds, as a gateway would, and is
    the only place a code ever reaches a log."""

    async def send(self, phone: str, text: str) -> None:
        s = get_settings()
        low, high = sorted((s.sms_delay_min, s.sms_delay_max))
        await asyncio.sleep(low + (high - low) * secrets.SystemRandom().random())
        # One log line per SMS (its line breaks written as \n), so the code stays on the "SMS to" line.
        log.info("SMS to %s: %s", phone, text.replace("\n", "\\n"))


@lru_cache
def load_sender(import_path: str) -> SmsSender:
    module_name, _, class_name = import_path.partition(":")
    sender = getattr(importlib.import_module(module_name), class_name)()
    if not isinstance(sender, SmsSender):
        raise TypeError(f"{import_path} does not implement SmsSender.send(phone, text)")
    return sender


class SenderProvider(Provider):
    """A sender class (the log, or SMS_SENDER's) in the failover list."""

    def __init__(self, name: str, sender: SmsSender) -> None:
        self.name = name
        self.sender = sender

    async def send(self, phone: str, text: str, *, timeout: float) -> Accepted:
        answer = await self.sender.send(phone, text)
        return answer if isinstance(answer, Accepted) else Accepted(self.name, None)


def configured_providers(s: Settings) -> list[Provider]:
    """SMS_PROVIDERS in order; without it, SMS_SENDER alone (`log` when it is the log sender)."""
    from referral_app.services.sms.providers import BUILT_IN

    if not s.sms_providers:
        return [SenderProvider("log" if s.sms_sender == LOG_SMS_SENDER else "custom", load_sender(s.sms_sender))]
    providers: list[Provider] = []
    for name in s.sms_providers:
        if name == "log":
            providers.append(SenderProvider(name, load_sender(LOG_SMS_SENDER)))
        elif name == "custom":
            providers.append(SenderProvider(name, load_sender(s.sms_sender)))
        else:
            providers.append(BUILT_IN[name](s))
    return providers


def provider_named(s: Settings, name: str) -> Provider | None:
    return next((p for p in configured_providers(s) if p.name == name), None)

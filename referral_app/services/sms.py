"""SMS delivery. The default sender only writes the message to the log; plug a real provider in with
the `SMS_SENDER` setting (an import path `package.module:ClassName` of a class implementing SmsSender)."""

from __future__ import annotations

import importlib
import logging
from functools import lru_cache
from typing import Protocol, runtime_checkable

log = logging.getLogger("referral_app.sms")


@runtime_checkable
class SmsSender(Protocol):
    async def send(self, phone: str, text: str) -> None: ...


class LogSmsSender:
    """Simulated delivery: the only place a code ever reaches a log."""

    async def send(self, phone: str, text: str) -> None:
        # One log line per SMS (its line breaks written as \n), so the code stays on the "SMS to" line.
        log.info("SMS to %s: %s", phone, text.replace("\n", "\\n"))


@lru_cache
def load_sender(import_path: str) -> SmsSender:
    module_name, _, class_name = import_path.partition(":")
    sender = getattr(importlib.import_module(module_name), class_name)()
    if not isinstance(sender, SmsSender):
        raise TypeError(f"{import_path} does not implement SmsSender.send(phone, text)")
    return sender

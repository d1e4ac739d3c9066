"""Delivery receipts posted by providers to POST /api/v1/sms/status/{provider}.

Twilio signs its requests (X-Twilio-Signature: HMAC-SHA1, keyed by the account's auth token, over the public
URL it called followed by every form field, sorted by name, as name + value). The others cannot sign, so their
receipt URL carries SMS_CALLBACK_SECRET as `key`, compared in constant time. A receipt that is not authentic,
names no message of ours, or repeats or rewinds a status changes nothing; every receipt gets the same answer,
so the endpoint tells a caller nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from referral_app.core import metrics
from referral_app.core.config import Settings
from referral_app.paths import SMS_STATUS_PATH
from referral_app.services.bridge import run_with_session
from referral_app.services.sms.base import StatusReport
from referral_app.services.sms.ledger import apply_report
from referral_app.services.sms.providers import smsaero_report, smsc_report, smsru_report, twilio_report

log = logging.getLogger("referral_app.sms")

# What each provider expects back (SMS.ru documents "100"; the others only look at the HTTP status).
ACKNOWLEDGEMENTS = {"smsru": "100"}
DEFAULT_ACKNOWLEDGEMENT = "OK"


@dataclass(frozen=True)
class Receipt:
    """A receipt as it arrived: the query string as sent, its parameters, the form fields (or a JSON
    object's top-level fields), and the signature header."""

    query_string: str
    query: Sequence[tuple[str, str]]
    fields: Sequence[tuple[str, str]]
    twilio_signature: str = ""


def acknowledgement(provider: str) -> str:
    return ACKNOWLEDGEMENTS.get(provider, DEFAULT_ACKNOWLEDGEMENT)


def twilio_signature(auth_token: str, url: str, fields: Sequence[tuple[str, str]]) -> str:
    payload = url + "".join(name + value for name, value in sorted(fields))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def authentic(provider: str, receipt: Receipt, s: Settings) -> bool:
    if provider == "twilio":
        if not (s.twilio_auth_token and s.sms_callback_base_url and receipt.twilio_signature):
            return False
        url = s.sms_callback_base_url.rstrip("/") + SMS_STATUS_PATH.format(provider=provider)
        if receipt.query_string:
            url += "?" + receipt.query_string
        expected = twilio_signature(s.twilio_auth_token, url, receipt.fields)
        return hmac.compare_digest(expected.encode(), receipt.twilio_signature.encode())
    keys = [value for name, value in receipt.query if name == "key"]
    if not s.sms_callback_secret or len(keys) != 1:
        return False
    return hmac.compare_digest(keys[0].encode(), s.sms_callback_secret.encode())


def reports(provider: str, receipt: Receipt) -> list[StatusReport]:
    """The status reports a receipt carries, in the provider's documented fields (unreadable ones dropped)."""
    fields = dict(receipt.fields)
    found: list[StatusReport | None] = []
    if provider == "twilio":
        found.append(twilio_report(fields))
    elif provider == "smsru":
        # data[N] = "sms_status\n<sms id>\n<status code>\n<unix time>", several per request.
        for name, value in receipt.fields:
            lines = value.split("\n")
            if name.startswith("data[") and len(lines) >= 3 and lines[0] == "sms_status":
                found.append(smsru_report(lines[1], lines[2]))
    elif provider == "smsc":
        found.append(smsc_report(fields.get("id", ""), fields.get("status"), fields.get("err")))
    elif provider == "smsaero":
        found.append(smsaero_report(fields.get("id", ""), fields.get("status"), fields.get("cost")))
    return [report for report in found if report is not None and report.message_id]


async def handle(provider: str, receipt: Receipt, s: Settings) -> int:
    """Apply an authentic receipt's reports; the number of messages it moved forward (0 for anything else)."""
    if not authentic(provider, receipt, s):
        log.warning("SMS receipt for %s refused: not authentic", provider[:20])
        return 0
    moved = 0
    for report in reports(provider, receipt):
        if (
            status := await run_with_session(apply_report, provider=provider, report=report, settings=s)
        ) is not None:
            metrics.sms_status(provider, status.value)
            moved += 1
    return moved

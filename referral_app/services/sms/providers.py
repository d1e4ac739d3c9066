"""The built-in providers, each as its documentation describes its HTTP API (docs/sms.md names the pages).

Every request goes through the shared client (http.py) with the time left of the send's budget. A provider
answers Accepted, or raises ProviderError with a short reason ("smsru 207", "twilio 429 20429"); transport
errors (timeouts, refused connections) are raised as httpx's and reported by the failover."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from referral_app.core.config import Settings
from referral_app.services.sms import http
from referral_app.services.sms.base import (
    RANK,
    Accepted,
    Provider,
    ProviderError,
    Status,
    StatusReport,
    digits,
    json_answer,
    to_decimal,
)

# The Russian providers bill the account in roubles and report bare amounts.
ROUBLES = "RUB"


def callback_url(s: Settings, provider: str, *, with_secret: bool) -> str | None:
    """Where a provider posts its receipts: SMS_CALLBACK_BASE_URL + /api/v1/sms/status/<provider>, with the
    shared secret as `key` for providers that do not sign their requests. None when receipts are off."""
    from referral_app.paths import SMS_STATUS_PATH

    if not s.sms_callback_base_url:
        return None
    url = s.sms_callback_base_url.rstrip("/") + SMS_STATUS_PATH.format(provider=provider)
    if with_secret:
        if not s.sms_callback_secret:
            return None
        return f"{url}?{httpx.QueryParams({'key': s.sms_callback_secret})}"
    return url


# --- SMS.ru: https://sms.ru/api/send, https://sms.ru/api/status --------------------------------------------
# Status codes of sms/status and of its callbacks.
SMSRU_STATUSES = {
    100: Status.ACCEPTED,  # queued at SMS.ru
    101: Status.SENT,  # being handed to the operator
    102: Status.SENT,  # sent, on its way
    103: Status.DELIVERED,
    104: Status.UNDELIVERED,  # its lifetime expired
    105: Status.UNDELIVERED,  # deleted by the operator
    106: Status.UNDELIVERED,  # the phone failed
    107: Status.UNDELIVERED,  # unknown reason
    108: Status.FAILED,  # rejected
    110: Status.DELIVERED,  # read
    150: Status.FAILED,  # no route to the number
}


class SmsRu(Provider):
    name = "smsru"
    pulls_status = True

    def __init__(self, s: Settings) -> None:
        self.base = s.smsru_base_url.rstrip("/")
        self.api_id = s.smsru_api_id or ""
        self.sender = s.smsru_from
        self.test = s.smsru_test

    async def send(self, phone: str, text: str, *, timeout: float) -> Accepted:
        form = {"api_id": self.api_id, "to": digits(phone), "msg": text, "json": "1"}
        if self.sender:
            form["from"] = self.sender
        if self.test:
            form["test"] = "1"
        response = await http.client().post(f"{self.base}/sms/send", data=form, timeout=http.timeout(timeout))
        body = json_answer(response, self.name)
        if body.get("status") != "OK":
            raise ProviderError(f"smsru {body.get('status_code')}")
        entry = _mapping(body.get("sms")).get(digits(phone))
        entry = entry if isinstance(entry, dict) else {}
        if entry.get("status") != "OK" or not entry.get("sms_id"):
            raise ProviderError(f"smsru {entry.get('status_code')}")
        return Accepted(self.name, str(entry["sms_id"]))

    async def fetch_status(self, message_id: str, *, timeout: float) -> StatusReport | None:
        params = {"api_id": self.api_id, "sms_id": message_id, "json": "1"}
        response = await http.client().post(f"{self.base}/sms/status", data=params, timeout=http.timeout(timeout))
        body = json_answer(response, self.name)
        entry = _mapping(body.get("sms")).get(message_id)
        if body.get("status") != "OK" or not isinstance(entry, dict) or entry.get("status") != "OK":
            return None
        return smsru_report(message_id, entry.get("status_code"), entry.get("cost"))


def smsru_report(message_id: str, code: object, cost: object = None) -> StatusReport | None:
    try:
        status = SMSRU_STATUSES.get(int(str(code)))
    except ValueError:
        return None
    if status is None:
        return None
    error = f"smsru {code}" if status in (Status.UNDELIVERED, Status.FAILED) else None
    amount = to_decimal(cost)
    return StatusReport(message_id, status, error, amount, ROUBLES if amount is not None else None)


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# --- SMSC.ru: https://smsc.ru/api/http/send/sms/, status codes https://smsc.ru/api/http/status_messages/ ----
# Error codes of send.php: 9 is "the same request again / too many at once" (its rate limit).
SMSC_STATUSES = {
    -1: Status.ACCEPTED,  # waiting to be sent
    0: Status.SENT,  # handed to the operator
    1: Status.DELIVERED,
    2: Status.DELIVERED,  # read
    3: Status.UNDELIVERED,  # expired
    4: Status.DELIVERED,  # a link in it was opened
    20: Status.UNDELIVERED,  # cannot be delivered
    22: Status.FAILED,  # wrong number
    23: Status.FAILED,  # prohibited
    24: Status.FAILED,  # not enough money
    25: Status.UNDELIVERED,  # number unavailable
}


class Smsc(Provider):
    name = "smsc"

    def __init__(self, s: Settings) -> None:
        self.base = s.smsc_base_url.rstrip("/")
        self.auth = (
            {"apikey": s.smsc_api_key} if s.smsc_api_key else {"login": s.smsc_login, "psw": s.smsc_password or ""}
        )
        self.sender = s.smsc_sender

    async def send(self, phone: str, text: str, *, timeout: float) -> Accepted:
        # "+" keeps SMSC from "correcting" the number; cost=3 answers the price and the balance.
        form = {**self.auth, "phones": phone, "mes": text, "fmt": "3", "charset": "utf-8", "cost": "3"}
        if self.sender:
            form["sender"] = self.sender
        response = await http.client().post(f"{self.base}/sys/send.php", data=form, timeout=http.timeout(timeout))
        body = json_answer(response, self.name)
        if "error_code" in body or "id" not in body:
            raise ProviderError(f"smsc {body.get('error_code')}")
        cost = to_decimal(body.get("cost"))
        return Accepted(self.name, str(body["id"]), cost=cost, currency=ROUBLES if cost is not None else None)


def smsc_report(message_id: str, code: object, error: object = None) -> StatusReport | None:
    try:
        status = SMSC_STATUSES.get(int(str(code)))
    except ValueError:
        return None
    if status is None:
        return None
    failed = status in (Status.UNDELIVERED, Status.FAILED)
    return StatusReport(message_id, status, f"smsc {code}/{error or ''}".rstrip("/") if failed else None)


# --- SMS Aero v2: https://smsaero.ru/integration/documentation/api/ ----------------------------------------
SMSAERO_STATUSES = {
    0: Status.ACCEPTED,  # queue
    1: Status.DELIVERED,
    2: Status.UNDELIVERED,  # not delivered
    3: Status.SENT,  # transferred
    4: Status.SENT,  # waiting for the operator's status
    6: Status.FAILED,  # rejected
    8: Status.ACCEPTED,  # on moderation
}


class SmsAero(Provider):
    name = "smsaero"
    pulls_status = True

    def __init__(self, s: Settings) -> None:
        self.base = s.smsaero_base_url.rstrip("/")
        self.auth = httpx.BasicAuth(s.smsaero_email, s.smsaero_api_key or "")
        self.sign = s.smsaero_sign
        self.method = "sms/testsend" if s.smsaero_test else "sms/send"
        self.callback = callback_url(s, self.name, with_secret=True)

    async def send(self, phone: str, text: str, *, timeout: float) -> Accepted:
        form = {"number": digits(phone), "text": text, "sign": self.sign}
        if self.callback:
            form["callbackUrl"] = self.callback
        response = await http.client().post(
            f"{self.base}/{self.method}", data=form, auth=self.auth, timeout=http.timeout(timeout)
        )
        data = self._data(response)
        report = smsaero_report(str(data.get("id", "")), data.get("status"), data.get("cost"))
        if not data.get("id") or report is None:
            raise ProviderError(f"smsaero {response.status_code}: unexpected answer")
        if report.status == Status.FAILED:
            raise ProviderError(f"smsaero rejected ({data.get('extendStatus')})")
        status = report.status if report.status != Status.DELIVERED else Status.ACCEPTED
        return Accepted(self.name, report.message_id, status, report.cost, report.currency)

    async def fetch_status(self, message_id: str, *, timeout: float) -> StatusReport | None:
        response = await http.client().get(
            f"{self.base}/sms/status", params={"id": message_id}, auth=self.auth, timeout=http.timeout(timeout)
        )
        data = self._data(response)
        return smsaero_report(message_id, data.get("status"), data.get("cost"))

    def _data(self, response: httpx.Response) -> dict[str, Any]:
        body = json_answer(response, self.name)
        if body.get("success") is not True or not isinstance(body.get("data"), dict):
            raise ProviderError(f"smsaero {response.status_code}: {str(body.get('message'))[:80]}")
        return _mapping(body["data"])


def smsaero_report(message_id: str, code: object, cost: object = None) -> StatusReport | None:
    try:
        status = SMSAERO_STATUSES.get(int(str(code)))
    except ValueError:
        return None
    if status is None:
        return None
    amount = to_decimal(cost)
    error = f"smsaero {code}" if status in (Status.UNDELIVERED, Status.FAILED) else None
    return StatusReport(message_id, status, error, amount, ROUBLES if amount is not None else None)


# --- Twilio Programmable Messaging: https://www.twilio.com/docs/messaging/api/message-resource ---------------
TWILIO_STATUSES = {
    "queued": Status.ACCEPTED,
    "accepted": Status.ACCEPTED,
    "scheduled": Status.ACCEPTED,
    "sending": Status.SENT,
    "sent": Status.SENT,
    "delivered": Status.DELIVERED,
    "read": Status.DELIVERED,
    "undelivered": Status.UNDELIVERED,
    "failed": Status.FAILED,
    "canceled": Status.FAILED,
}


class Twilio(Provider):
    name = "twilio"

    def __init__(self, s: Settings) -> None:
        self.url = f"{s.twilio_base_url.rstrip('/')}/2010-04-01/Accounts/{s.twilio_account_sid}/Messages.json"
        # An API key (SID + secret) is Twilio's recommendation for production; the account's token works too.
        if s.twilio_api_key_sid and s.twilio_api_key_secret:
            self.auth = httpx.BasicAuth(s.twilio_api_key_sid, s.twilio_api_key_secret)
        else:
            self.auth = httpx.BasicAuth(s.twilio_account_sid, s.twilio_auth_token or "")
        self.origin = (
            {"MessagingServiceSid": s.twilio_messaging_service_sid}
            if s.twilio_messaging_service_sid
            else {"From": s.twilio_from}
        )
        self.callback = callback_url(s, self.name, with_secret=False) if s.twilio_auth_token else None

    async def send(self, phone: str, text: str, *, timeout: float) -> Accepted:
        form = {"To": phone, "Body": text, **self.origin}
        if self.callback:
            form["StatusCallback"] = self.callback
        response = await http.client().post(self.url, data=form, auth=self.auth, timeout=http.timeout(timeout))
        body = json_answer(response, self.name)
        if response.status_code != httpx.codes.CREATED or not body.get("sid"):
            raise ProviderError(f"twilio {response.status_code} {body.get('code')}")
        status = TWILIO_STATUSES.get(str(body.get("status")), Status.ACCEPTED)
        if status in (Status.FAILED, Status.UNDELIVERED):
            raise ProviderError(f"twilio {body.get('status')} {body.get('error_code')}")
        # Twilio prices are negative amounts (money leaving the account), known only once the message is sent.
        price = to_decimal(body.get("price"))
        cost = abs(price) if price is not None else None
        currency = str(body.get("price_unit") or "").upper() or None
        if RANK[status] > RANK[Status.SENT]:
            status = Status.SENT  # a receipt says more
        return Accepted(self.name, str(body["sid"]), status, cost, currency)


def twilio_report(form: dict[str, str]) -> StatusReport | None:
    status = TWILIO_STATUSES.get(form.get("MessageStatus", ""))
    sid = form.get("MessageSid", "")
    if status is None or not sid:
        return None
    error = f"twilio {form.get('ErrorCode')}" if status in (Status.UNDELIVERED, Status.FAILED) else None
    return StatusReport(sid, status, error)


# --- Generic HTTP: any provider with an HTTP API, configured rather than coded ---------------------------------
class GenericHttp(Provider):
    name = "http"

    def __init__(self, s: Settings) -> None:
        self.url, self.method, self.format = s.sms_http_url, s.sms_http_method.upper(), s.sms_http_format
        self.template, self.id_field = s.sms_http_body, s.sms_http_id_field
        self.headers = dict(s.sms_http_headers)
        self.auth: httpx.BasicAuth | None = None
        if s.sms_http_bearer_token:
            self.headers["Authorization"] = f"Bearer {s.sms_http_bearer_token}"
        elif s.sms_http_username:
            self.auth = httpx.BasicAuth(s.sms_http_username, s.sms_http_password or "")

    def body(self, phone: str, text: str) -> dict[str, Any]:
        """The template (a JSON object) with {phone} and {text} filled in as JSON strings, so no value can
        break out of its place."""
        escape: Callable[[str], str] = lambda value: json.dumps(value, ensure_ascii=False)[1:-1]  # noqa: E731
        filled = self.template.replace("{phone}", escape(phone)).replace("{text}", escape(text))
        body = json.loads(filled)
        if not isinstance(body, dict):
            raise ProviderError("http: SMS_HTTP_BODY is not a JSON object")
        return body

    async def send(self, phone: str, text: str, *, timeout: float) -> Accepted:
        body = self.body(phone, text)
        content = {"json": body} if self.format == "json" else {"data": {k: str(v) for k, v in body.items()}}
        response = await http.client().request(
            self.method, self.url, headers=self.headers, auth=self.auth, timeout=http.timeout(timeout), **content
        )
        if not response.is_success:
            raise ProviderError(f"http {response.status_code}")
        message_id = None
        if self.id_field:
            value: Any = json_answer(response, self.name)
            for part in self.id_field.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            message_id = str(value) if value is not None else None
        return Accepted(self.name, message_id)


BUILT_IN: dict[str, Callable[[Settings], Provider]] = {
    "smsru": SmsRu,
    "smsc": Smsc,
    "smsaero": SmsAero,
    "twilio": Twilio,
    "http": GenericHttp,
}

"""Local stand-ins for the SMS providers, spoken to over real HTTP: each is a small ASGI app served by uvicorn
in a thread on a free loopback port. Each checks a request as the provider's documentation says the provider
does (parameters, authentication, UTF-8 text, the phone's format), records it, and answers with the
provider's documented bodies: success, errors and rate limits (`mode`). Our client is never mocked.

Documentation read for them (docs/sms.md lists it too): SMS.ru https://sms.ru/api/send and /api/status;
SMSC https://smsc.ru/api/http/send/sms/ (errors: .../sms_answer/); SMS Aero v2 https://smsaero.ru/integration/
documentation/api/; Twilio https://www.twilio.com/docs/messaging/api/message-resource and
https://www.twilio.com/docs/usage/webhooks/webhooks-security.

`python -m tests.support.sms_fakes smsru PORT` serves a fake SMS.ru alone (make docker-test points the image
at it)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import re
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.support.ports import free_port

DIGITS = re.compile(r"^[1-9][0-9]{9,14}$")  # international format without "+"
E164 = re.compile(r"^\+[1-9][0-9]{9,14}$")
SLOW_SECONDS = 5.0


@dataclass
class Seen:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]
    json: Any = None


@dataclass
class FakeProvider:
    """State shared by a fake's handlers and the test: what to answer (`mode`), what it saw, what it found
    wrong with a request (`problems`: a test asserts it stays empty), and the statuses a status query returns
    per message id ("*": any), one per query (the last one repeats)."""

    name: str
    mode: str = "ok"
    seen: list[Seen] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    statuses: dict[str, list[Any]] = field(default_factory=dict)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    base_url: str = ""

    def sends(self) -> list[Seen]:
        return [s for s in self.seen if "status" not in s.path]

    def status_queries(self) -> list[Seen]:
        return [s for s in self.seen if "status" in s.path]

    def next_status(self, message_id: str) -> Any:
        # "*": any message (a test that cannot know the id: a slow request left by an earlier test may take one).
        queue = self.statuses.get(message_id) or self.statuses.get("*") or [None]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def problem(self, text: str) -> None:
        self.problems.append(text)


async def _record(fake: FakeProvider, request: Request) -> Seen:
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    form: dict[str, str] = {}
    document: Any = None
    if content_type.startswith("application/x-www-form-urlencoded"):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            fake.problem("form body is not UTF-8")
            text = body.decode("latin-1")
        form = dict(parse_qsl(text, keep_blank_values=True))
    elif content_type.startswith("application/json"):
        import json

        document = json.loads(body)
    seen = Seen(
        request.method, request.url.path, dict(request.query_params), form, dict(request.headers), document
    )
    fake.seen.append(seen)
    if fake.mode == "slow":
        await asyncio.sleep(SLOW_SECONDS)
    return seen


def _params(seen: Seen) -> dict[str, str]:
    return {**seen.query, **seen.form}


def _basic(seen: Seen) -> tuple[str, str] | None:
    header = seen.headers.get("authorization", "")
    if not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password


# --- SMS.ru ----------------------------------------------------------------------------------------------------
def smsru_app(fake: FakeProvider, api_id: str) -> Starlette:
    async def send(request: Request) -> Response:
        params = _params(await _record(fake, request))
        if params.get("json") != "1":
            fake.problem("smsru: json=1 missing")
        if params.get("api_id") != api_id:
            return JSONResponse({"status": "ERROR", "status_code": 200, "status_text": "Неправильный api_id"})
        to, msg = params.get("to", ""), params.get("msg", "")
        if not DIGITS.match(to):
            fake.problem(f"smsru: `to` is not digits in international format: {to!r}")
        if not msg:
            return JSONResponse({"status": "ERROR", "status_code": 203, "status_text": "Нет текста сообщения"})
        if fake.mode == "no_money":
            return JSONResponse({"status": "ERROR", "status_code": 201, "status_text": "Не хватает средств"})
        if fake.mode == "http500":
            return PlainTextResponse("<html>Service Unavailable</html>", status_code=503)
        entry: dict[str, Any]
        if fake.mode == "refused":
            entry = {"status": "ERROR", "status_code": 207, "status_text": "На этот номер нельзя отправлять"}
        elif fake.mode == "rate_limited":
            entry = {"status": "ERROR", "status_code": 230, "status_text": "Превышен лимит сообщений на номер"}
        else:
            entry = {"status": "OK", "status_code": 100, "sms_id": f"000000-{10000000 + next(fake.ids)}"}
        return JSONResponse({"status": "OK", "status_code": 100, "sms": {to: entry}, "balance": 4122.56})

    async def status(request: Request) -> Response:
        params = _params(await _record(fake, request))
        if params.get("api_id") != api_id:
            return JSONResponse({"status": "ERROR", "status_code": 200, "status_text": "Неправильный api_id"})
        sms_id = params.get("sms_id", "")
        code = fake.next_status(sms_id)
        if code is None:
            entry: dict[str, Any] = {"status": "ERROR", "status_code": -1, "status_text": "Сообщение не найдено"}
        else:
            entry = {"status": "OK", "status_code": code, "cost": 0.5, "status_text": f"status {code}"}
        return JSONResponse({"status": "OK", "status_code": 100, "sms": {sms_id: entry}, "balance": 4122.06})

    return Starlette(
        routes=[
            Route("/sms/send", send, methods=["GET", "POST"]),
            Route("/sms/status", status, methods=["GET", "POST"]),
        ]
    )


# --- SMSC.ru ----------------------------------------------------------------------------------------------------
def smsc_app(fake: FakeProvider, login: str, password: str) -> Starlette:
    async def send(request: Request) -> Response:
        params = _params(await _record(fake, request))
        if params.get("fmt") != "3":
            fake.problem("smsc: fmt=3 (JSON) missing")
        if params.get("charset") != "utf-8":
            fake.problem("smsc: without charset=utf-8 SMSC reads the text as windows-1251")
        if (params.get("login"), params.get("psw")) != (login, password):
            return JSONResponse({"error": "authorise error", "error_code": 2})
        phones = params.get("phones", "")
        if not E164.match(phones):
            fake.problem(f"smsc: phones not in +international form (SMSC would 'correct' it): {phones!r}")
        message_id = next(fake.ids)
        if fake.mode == "refused":
            return JSONResponse({"error": "invalid number", "error_code": 7, "id": message_id})
        if fake.mode == "rate_limited":
            return JSONResponse({"error": "duplicate request, wait a minute", "error_code": 9})
        if fake.mode == "no_money":
            return JSONResponse({"error": "no money", "error_code": 3, "id": message_id})
        answer: dict[str, Any] = {"id": message_id, "cnt": 1}
        if params.get("cost") == "3":
            answer.update(cost="1.40", balance="100.60")
        return JSONResponse(answer)

    return Starlette(routes=[Route("/sys/send.php", send, methods=["GET", "POST"])])


# --- SMS Aero v2 --------------------------------------------------------------------------------------------------
def smsaero_app(fake: FakeProvider, email: str, api_key: str) -> Starlette:
    def failure(status: int, message: str, data: Any = None) -> Response:
        return JSONResponse({"success": False, "data": data, "message": message}, status_code=status)

    async def send(request: Request) -> Response:
        seen = await _record(fake, request)
        params = _params(seen)
        if _basic(seen) != (email, api_key):
            return failure(401, "Your credentials are incorrect")
        if fake.mode == "rate_limited":
            return failure(429, "Too Many Requests")
        number, text, sign = params.get("number", ""), params.get("text", ""), params.get("sign", "")
        if not DIGITS.match(number):
            return failure(400, "Validation error.", {"number": ["Invalid number format"]})
        if not text or not sign:
            return failure(400, "Validation error.", {"text": ["Text is required"]})
        if fake.mode == "refused":
            return failure(400, "Validation error.", {"number": ["The number is blocked"]})
        message_id = next(fake.ids)
        data = {
            "id": message_id,
            "from": sign,
            "number": number,
            "text": text,
            "status": 8 if request.url.path.endswith("testsend") else 0,
            "extendStatus": "moderation" if request.url.path.endswith("testsend") else "queue",
            "channel": "FREE SIGN",
            "cost": "2.25",
            "dateCreate": int(time.time()),
            "dateSend": int(time.time()),
        }
        return JSONResponse({"success": True, "data": data, "message": None})

    async def status(request: Request) -> Response:
        seen = await _record(fake, request)
        if _basic(seen) != (email, api_key):
            return failure(401, "Your credentials are incorrect")
        message_id = seen.query.get("id", "")
        code = fake.next_status(message_id)
        if code is None:
            return failure(404, "Not found")
        data = {"id": int(message_id), "status": code, "extendStatus": str(code), "cost": "2.25"}
        return JSONResponse({"success": True, "data": data, "message": None})

    routes = [
        Route("/v2/sms/send", send, methods=["GET", "POST"]),
        Route("/v2/sms/testsend", send, methods=["GET", "POST"]),
        Route("/v2/sms/status", status, methods=["GET", "POST"]),
    ]
    return Starlette(routes=routes)


# --- Twilio -------------------------------------------------------------------------------------------------------
def twilio_app(fake: FakeProvider, account_sid: str, auth_token: str) -> Starlette:
    def error(status: int, code: int, message: str) -> Response:
        body = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        return JSONResponse(body, status_code=status)

    async def messages(request: Request) -> Response:
        seen = await _record(fake, request)
        if request.path_params["sid"] != account_sid or _basic(seen) != (account_sid, auth_token):
            return error(401, 20003, "Authenticate")
        if fake.mode == "rate_limited":
            return error(429, 20429, "Too Many Requests")
        to, body = seen.form.get("To", ""), seen.form.get("Body", "")
        if not E164.match(to) or fake.mode == "refused":
            return error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not body:
            return error(400, 21602, "Message body is required.")
        if ("From" in seen.form) == ("MessagingServiceSid" in seen.form):
            return error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required")
        sid = "SM" + hashlib.md5(str(next(fake.ids)).encode()).hexdigest()
        answer = {
            "sid": sid,
            "account_sid": account_sid,
            "to": to,
            "body": body,
            "status": "queued" if "From" in seen.form else "accepted",
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
        }
        return JSONResponse(answer, status_code=201)

    return Starlette(routes=[Route("/2010-04-01/Accounts/{sid}/Messages.json", messages, methods=["POST"])])


def twilio_signature(auth_token: str, url: str, form: dict[str, str]) -> str:
    """As Twilio's webhook security page describes: the URL, then every POST field sorted by name as name +
    value, HMAC-SHA1 keyed by the auth token, base64. (Written here from the page, not taken from the app.)"""
    data = url + "".join(key + form[key] for key in sorted(form))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


# --- a generic HTTP SMS API ----------------------------------------------------------------------------------------
def http_app(fake: FakeProvider, token: str) -> Starlette:
    async def send(request: Request) -> Response:
        seen = await _record(fake, request)
        if seen.headers.get("authorization") != f"Bearer {token}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if fake.mode == "rate_limited":
            return JSONResponse({"error": "slow down"}, status_code=429)
        if not isinstance(seen.json, dict) or not E164.match(str(seen.json.get("to", ""))):
            return JSONResponse({"error": "bad request"}, status_code=400)
        return JSONResponse({"result": {"id": f"msg-{next(fake.ids)}"}}, status_code=202)

    async def send_form(request: Request) -> Response:
        """The same API taking a form and basic authentication (the token as the password)."""
        seen = await _record(fake, request)
        if _basic(seen) != ("sender", token):
            return PlainTextResponse("unauthorized", status_code=401)
        if not E164.match(seen.form.get("to", "")) or not seen.form.get("text"):
            return PlainTextResponse("bad request", status_code=400)
        return PlainTextResponse("queued", status_code=200)

    return Starlette(
        routes=[Route("/v1/messages", send, methods=["POST"]), Route("/v1/form", send_form, methods=["POST"])]
    )


# --- serving ---------------------------------------------------------------------------------------------------------
class Served:
    """An ASGI app on 127.0.0.1:<free port>, served by uvicorn in a daemon thread until stop()."""

    def __init__(self, app: Callable[..., Awaitable[None]], port: int | None = None) -> None:
        self.port = port or free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake provider did not start")
            time.sleep(0.01)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def main() -> None:
    """`python -m tests.support.sms_fakes smsru PORT API_ID`: a fake SMS.ru in the foreground."""
    _, provider, port, api_id = sys.argv
    if provider != "smsru":
        raise SystemExit("only smsru is served standalone")
    fake = FakeProvider("smsru")
    # The access log (one line per request) is what scripts/docker-test.sh checks.
    uvicorn.run(smsru_app(fake, api_id), host="127.0.0.1", port=int(port), log_level="info")


if __name__ == "__main__":
    main()

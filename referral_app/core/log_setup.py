"""Log format for the service's own loggers (Reflex and the ASGI server configure theirs).

LOG_FORMAT=text (the default) writes human-readable lines. LOG_FORMAT=json writes one JSON object per line,
for log shippers: time (UTC, ISO 8601), level, logger, message, request_id, phone (masked), client, and
`exception` when there is one. The request id and the client come from the request being served
(`enter_request`, called by the one ASGI layer in front of the app: a websocket's events share its
connection's); the phone from the service handling it (`log_phone`, already masked). serve.py also turns on
Reflex's JSON logs (REFLEX_LOG_JSON) for its and granian's lines.
"""

from __future__ import annotations

import json
import logging
import os
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from referral_app.core.config import get_settings
from referral_app.core.net import client_ip

if TYPE_CHECKING:
    from contextvars import Token

    from starlette.types import Message, Scope

LOG_FORMATS = ("text", "json")
REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_KEY = REQUEST_ID_HEADER.encode()
_ACCEPTED_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")  # a proxy's id is kept only when it is this tame

_request_id: ContextVar[str | None] = ContextVar("log_request_id", default=None)
# The request's peer and X-Forwarded-For lines: the client is worked out only when a JSON line is written.
_client: ContextVar[tuple[str | None, list[str]] | None] = ContextVar("log_client", default=None)
_phone: ContextVar[str | None] = ContextVar("log_phone", default=None)
# What leave_request resets: the three variables' tokens.
RequestContext = tuple["Token[str | None]", "Token[tuple[str | None, list[str]] | None]", "Token[str | None]"]


def log_phone(masked: str) -> None:
    """Name the (masked) phone the current request is about in its JSON log lines from here on."""
    _phone.set(masked)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": _request_id.get(),
            "phone": _phone.get(),
            "client": _client_of(_client.get()),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def log_format() -> str:
    chosen = os.environ.get("LOG_FORMAT", "text").strip().lower() or "text"
    if chosen not in LOG_FORMATS:
        raise SystemExit(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)} (got {chosen!r})")
    return chosen


def configure_logging() -> None:
    logger = logging.getLogger("referral_app")
    if logger.handlers:
        return
    handler = logging.StreamHandler()
    if log_format() == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(name)s] %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    logger.propagate = False


def _client_of(request: tuple[str | None, list[str]] | None) -> str | None:
    """The client as the limits see it (behind TRUSTED_PROXIES), else the peer."""
    if request is None:
        return None
    peer, forwarded = request
    return client_ip(peer, forwarded, get_settings().trusted_proxies) or peer


def enter_request(scope: Scope) -> tuple[str, RequestContext]:
    """Name the request (or websocket) `scope` in the log lines written while it is served: its id and client.
    The id is the one a proxy sent in X-Request-ID when it is tame, else a new one; the caller sends it back in
    X-Request-ID (`with_request_id`) and ends the context with `leave_request`."""
    given: str | None = None
    forwarded: list[str] = []
    for key, value in scope.get("headers", ()):  # both headers in one pass
        name = key.lower()
        if name == b"x-forwarded-for":
            forwarded.append(bytes(value).decode("latin-1"))
        elif name == _REQUEST_ID_KEY and given is None:
            given = bytes(value).decode("latin-1")
    request_id = given if given and _ACCEPTED_REQUEST_ID.fullmatch(given) else os.urandom(16).hex()
    peer = scope["client"][0] if scope.get("client") else None
    return request_id, (_request_id.set(request_id), _client.set((peer, forwarded)), _phone.set(None))


def leave_request(context: RequestContext) -> None:
    _phone.reset(context[2])
    _client.reset(context[1])
    _request_id.reset(context[0])


def with_request_id(start: Message, request_id: str) -> Message:
    """An `http.response.start` message carrying the request's id in X-Request-ID (in place of any the app set)."""
    headers = [(k, v) for k, v in start.get("headers", ()) if k.lower() != _REQUEST_ID_KEY]
    return {**start, "headers": [*headers, (_REQUEST_ID_KEY, request_id.encode())]}

"""Only pages of our own origin may use the app from a browser.

Websockets need no CORS preflight, so a page on any site could open Reflex's `/_event` from its visitors'
browsers and drive the login flow with their IPs; the server must check `Origin` itself. This guard refuses a
websocket handshake (403, before Reflex or socket.io see it, so no tab state is created) and an API request
whose `Origin` is not allowed. CORS answers for the API come from Reflex's CORS middleware, which rxconfig.py
gives the same allow-list (`Settings.web_origins`), so a foreign origin is neither reflected nor `*`.

Requests without `Origin` (curl, Postman, server-to-server) pass: they come from no one's browser."""

from __future__ import annotations

from collections.abc import Callable, Collection

from reflex_base.constants import Endpoint
from starlette.types import ASGIApp, Receive, Scope, Send

from referral_app.api.errors import error_response
from referral_app.core.i18n import translate
from referral_app.paths import API_PATHS

EVENT_PATH = "/" + str(Endpoint.EVENT)  # Reflex's socket.io endpoint


def request_origin(scope: Scope) -> str | None:
    """The request's Origin header (a browser's page sent it), or None."""
    for name, value in scope.get("headers") or []:
        if name == b"origin":
            return str(value.decode("latin-1"))
    return None


def _guarded(scope: Scope) -> bool:
    if scope["type"] == "websocket":
        return True
    path = str(scope["path"])
    return scope["type"] == "http" and (path.startswith(API_PATHS) or path.startswith(EVENT_PATH))


async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        if "websocket.http.response" in scope.get("extensions", {}):
            await send({"type": "websocket.http.response.start", "status": 403, "headers": []})
            await send({"type": "websocket.http.response.body", "body": b""})
        else:  # closing before accepting is answered with 403 by the server
            await send({"type": "websocket.close", "code": 1008})
        return
    await error_response(403, "forbidden_origin", translate("error.forbidden_origin"))(scope, receive, send)


def origin_guard(allowed: Collection[str]) -> Callable[[ASGIApp], ASGIApp]:
    """An api_transformer for rx.App: refuse websockets and API requests from pages of other origins."""
    accepted = frozenset(allowed)

    def transform(app: ASGIApp) -> ASGIApp:
        async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
            if _guarded(scope) and (origin := request_origin(scope)) is not None and origin not in accepted:
                await _refuse(scope, receive, send)
                return
            await app(scope, receive, send)

        return asgi

    return transform

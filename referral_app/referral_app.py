"""The Reflex application: the web UI, with the JSON API served on the same port.

Its surface towards browsers: only pages of the allowed origins (web/origins.py, the list from rxconfig.py),
only declared events in their declared shape (web/events.py), frontend error reports as bounded log lines and
no tab tokens in Reflex's log lines (web/logs.py)."""

from __future__ import annotations

import time

import reflex as rx
from reflex_base.config import get_config
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from referral_app.api.main import create_api
from referral_app.core.log_setup import configure_logging, enter_request, leave_request, with_request_id
from referral_app.core.metrics import count_request, tab_connected, tab_disconnected
from referral_app.lifespan import apply_migrations, purge_daily
from referral_app.paths import API_PATHS
from referral_app.services import refusal_cache
from referral_app.services.webhooks import deliver_forever as deliver_webhooks
from referral_app.web.errors import show_backend_error
from referral_app.web.events import bounded_receive, guard_events
from referral_app.web.logs import log_frontend_error, mask_tab_tokens_in_reflex_logs
from referral_app.web.origins import origin_guard, request_origin
from referral_app.web.pages import register_pages
from referral_app.web.state.news import quiet_news_token_warnings

configure_logging()

api = create_api()


def edge(reflex_app: ASGIApp) -> ASGIApp:
    """The one ASGI layer in front of everything (a coroutine and a send wrapper per request; as three nested
    layers they cost more than FastAPI's own work on a small route). For every request and websocket: its id
    and client in the log lines written while it is served and its id in X-Request-ID; each HTTP request
    counted per route with its latency, each websocket as an open tab, its messages bounded (web/events.py).

    API paths go to FastAPI whole, before any of the web app's layers (its Starlette app, context and CORS
    middleware), so its JSON 404/405 answers win over the web app's HTML pages. For requests from a browser's
    page (an Origin header; CORS and the origin guard do nothing to the others, so those skip both) in the web
    app's order: the same CORS answers as the web app's (Reflex's settings, the same allow-list), then the
    guard."""
    origins = get_config().cors_allowed_origins
    guarded_api = CORSMiddleware(
        origin_guard(origins)(api),
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
        allow_origins=origins,
    )

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await reflex_app(scope, receive, send)
            return
        request_id, context = enter_request(scope)
        try:
            if kind == "websocket":
                tab_connected()
                try:
                    await reflex_app(scope, bounded_receive(receive, send), send)
                finally:
                    tab_disconnected()
                return
            started = time.perf_counter()
            status = 500  # what the client gets when the app raises before answering

            async def answer(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    message = with_request_id(message, request_id)
                await send(message)

            if not scope["path"].startswith(API_PATHS):
                target = reflex_app
            else:
                target = guarded_api if request_origin(scope) is not None else api
            try:
                await target(scope, receive, answer)
            finally:
                count_request(scope, status, started)
        finally:
            leave_request(context)

    return asgi


class App(rx.App):
    """rx.App whose ASGI app (what granian serves) is `edge` in front of everything Reflex adds."""

    def __call__(self) -> ASGIApp:
        return edge(super().__call__())


app = App(
    api_transformer=origin_guard(get_config().cors_allowed_origins),
    backend_exception_handler=show_backend_error,
    frontend_exception_handler=log_frontend_error,
)
guard_events(app)
mask_tab_tokens_in_reflex_logs()
quiet_news_token_warnings()
app.register_lifespan_task(apply_migrations)
app.register_lifespan_task(purge_daily)
app.register_lifespan_task(refusal_cache.listen_for_lifts)
app.register_lifespan_task(deliver_webhooks)
register_pages(app)

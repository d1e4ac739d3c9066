"""The Reflex application: the web UI, with the JSON API served on the same port.

Its surface towards browsers: only pages of the allowed origins (web/origins.py, the list from rxconfig.py),
only declared events in their declared shape (web/events.py), frontend error reports as bounded log lines and
no tab tokens in Reflex's log lines (web/logs.py)."""

from __future__ import annotations

import reflex as rx
from reflex_base.config import get_config
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from referral_app.api.main import create_api
from referral_app.core.log_setup import configure_logging, request_context
from referral_app.core.metrics import count_requests
from referral_app.lifespan import apply_migrations, purge_daily
from referral_app.paths import API_PATHS
from referral_app.services import refusal_cache
from referral_app.services.webhooks import deliver_forever as deliver_webhooks
from referral_app.web.errors import show_backend_error
from referral_app.web.events import guard_events
from referral_app.web.logs import log_frontend_error, mask_tab_tokens_in_reflex_logs
from referral_app.web.origins import origin_guard, request_origin
from referral_app.web.pages import register_pages
from referral_app.web.state.news import quiet_news_token_warnings

configure_logging()

api = create_api()


def serve_api_outermost(reflex_app: ASGIApp) -> ASGIApp:
    """API paths go to FastAPI whole, before any of the web app's layers (its Starlette app, context and
    CORS middleware cost a third of a request's CPU): so its JSON 404/405 answers win over the web app's HTML
    pages, and the API pays only for what it uses. In front of the API, for requests from a browser's page (an
    Origin header; CORS and the origin guard do nothing to the others, so those skip both), in the web app's
    order: the same CORS answers as the web app's (Reflex's settings, the same allow-list), then the guard."""
    origins = get_config().cors_allowed_origins
    guarded_api = CORSMiddleware(
        origin_guard(origins)(api),
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
        allow_origins=origins,
    )

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(API_PATHS):
            await (guarded_api if request_origin(scope) is not None else api)(scope, receive, send)
        else:
            await reflex_app(scope, receive, send)

    return asgi


class App(rx.App):
    """rx.App whose ASGI app (what granian serves) has the API in front of everything Reflex adds, all of it
    counted in the metrics (requests per route, open websockets), each request's id and client in its log
    lines."""

    def __call__(self) -> ASGIApp:
        return request_context(count_requests(serve_api_outermost(super().__call__())))


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

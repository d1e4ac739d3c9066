"""The Reflex application: the web UI, with the JSON API served on the same port."""

from __future__ import annotations

import reflex as rx
from starlette.types import ASGIApp, Receive, Scope, Send

from referral_app.api.main import create_api
from referral_app.core.log_setup import configure_logging
from referral_app.lifespan import apply_migrations, purge_stale_codes
from referral_app.paths import API_PATHS
from referral_app.web.errors import show_backend_error
from referral_app.web.pages import register_pages

configure_logging()

api = create_api()


def route_api_first(reflex_app: ASGIApp) -> ASGIApp:
    """Send API paths to FastAPI whole, so its JSON 404/405 answers win over the web app's HTML pages."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(API_PATHS):
            await api(scope, receive, send)
        else:
            await reflex_app(scope, receive, send)

    return asgi


app = rx.App(api_transformer=route_api_first, backend_exception_handler=show_backend_error)
app.register_lifespan_task(apply_migrations)
app.register_lifespan_task(purge_stale_codes)
register_pages(app)

import os

import reflex as rx

from referral_app.core.config import get_settings
from referral_app.limits import TAB_STATE_TTL_SECONDS
from referral_app.serve import configure_allocator

configure_allocator()  # before Reflex loads granian (see referral_app/serve.py)

# Production serves the web app, its websocket and the JSON API on this one port. The port is baked into
# the compiled front end, so it is read here (PORT) rather than only at run time.
PORT = int(os.environ.get("PORT", "3000"))

config = rx.Config(
    app_name="referral_app",
    telemetry_enabled=False,
    frontend_port=PORT,
    backend_port=PORT,
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="violet", radius="large"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
    # A tab's server-side state (in this process or in Redis) is dropped this long after its last event; a
    # signed-in person stays signed in (the token is in the browser), a half-typed number is forgotten.
    redis_token_expiration=TAB_STATE_TTL_SECONDS,
)
# Without Redis a tab's state lives in this process only (docs/deploy.md), not also in pickles under .states, which
# Reflex's default (disk) keeps: it wrote each new tab's states there and listed and stat'ed every file every 2 s,
# which held connects to about 40 a second with 1,000 tabs online (docs/scaling.md). With Redis, Reflex picks Redis.
if not config.redis_url:
    config.state_manager_mode = rx.constants.StateManagerMode.MEMORY
# Pages of these origins only may open the websocket (referral_app/web/origins.py) and get CORS answers from the
# API (Reflex's CORS middleware): ALLOWED_ORIGINS, or the origin the app is built for (REFLEX_API_URL and
# REFLEX_DEPLOY_URL, by default http://localhost:PORT), plus its loopback forms in demo mode.
config.cors_allowed_origins = get_settings().web_origins(config.api_url, config.deploy_url, port=PORT)

import os

import reflex as rx

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
)

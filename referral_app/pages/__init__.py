"""Pages of the web app."""

from __future__ import annotations

import reflex as rx


def _index() -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.heading("referral_app"),
            rx.text("Phone-number login with invite codes."),
            rx.hstack(
                rx.link("API docs (Swagger)", href="/docs"), rx.link("API reference (ReDoc)", href="/redoc")
            ),
            align="center",
        ),
        min_height="100vh",
    )


def register_pages(app: rx.App) -> None:
    app.add_page(_index, route="/", title="referral_app")

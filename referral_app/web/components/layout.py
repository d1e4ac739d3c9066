"""The page frame: header with the app name and the language switch, a centred mobile-first column."""

from __future__ import annotations

import reflex as rx

from referral_app.web.state.app import AppState

CONTENT_WIDTH = "480px"


def language_switch() -> rx.Component:
    return rx.segmented_control.root(
        rx.segmented_control.item("RU", value="ru"),
        rx.segmented_control.item("EN", value="en"),
        value=AppState.lang,
        on_change=AppState.set_language,
        size="1",
        aria_label=AppState.t["language"],
        id="language-switch",
    )


def page(*children: rx.Component, width: str = CONTENT_WIDTH) -> rx.Component:
    """The frame; the console's pages are wider (`width`), everything else is the mobile-first column."""
    return rx.box(
        rx.flex(
            rx.hstack(
                rx.icon("ticket", size=22, color=rx.color("accent", 10)),
                rx.text(AppState.t["app_name"], weight="bold", size="4"),
                align="center",
                spacing="2",
            ),
            language_switch(),
            justify="between",
            align="center",
            width="100%",
            max_width=width,
            margin_x="auto",
            padding="16px",
        ),
        rx.box(
            *children,
            width="100%",
            max_width=width,
            margin_x="auto",
            padding_x="16px",
            padding_bottom="40px",
        ),
        min_height="100vh",
        background=rx.color("gray", 2),
    )


def card(*children: rx.Component, **props: object) -> rx.Component:
    return rx.card(rx.vstack(*children, spacing="3", width="100%"), width="100%", size="3", **props)


def field_error(text: rx.Var[str], id: str) -> rx.Component:
    """An error line whose space is always kept, so messages never make the layout jump."""
    return rx.text(text, color_scheme="red", size="2", id=id, role="alert", min_height="1.4em")


def labelled(label: rx.Var[str], control: rx.Component, html_for: str) -> rx.Component:
    return rx.vstack(
        rx.el.label(rx.text(label, size="2", weight="medium"), html_for=html_for),
        control,
        spacing="1",
        width="100%",
    )


def busy_label(busy: rx.Var[bool], idle_text: rx.Var[str], busy_text: rx.Var[str]) -> rx.Component:
    return rx.cond(
        busy,
        rx.hstack(rx.spinner(size="2"), rx.text(busy_text), align="center", spacing="2"),
        rx.text(idle_text),
    )

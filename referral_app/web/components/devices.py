"""The profile page's "Devices" card: where I am signed in, a sign-out per session, and "everywhere else"."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from referral_app.web.components.layout import card, field_error
from referral_app.web.state.account import AccountState

T = AccountState.t


def _device(row: ObjectVar[dict[str, str]]) -> rx.Component:
    return rx.flex(
        rx.vstack(
            rx.hstack(
                rx.icon("monitor-smartphone", size=16),
                rx.text(row["label"], weight="medium"),
                rx.cond(row["current"] != "", rx.badge(T["devices.this_device"], color_scheme="green")),
                align="center",
                spacing="2",
                wrap="wrap",
            ),
            rx.text(row["last_used"], " · ", row["ip"], size="1", color_scheme="gray"),
            spacing="1",
        ),
        rx.button(
            T["devices.sign_out"],
            size="2",
            variant="soft",
            color_scheme="gray",
            disabled=AccountState.signing_out,
            on_click=AccountState.sign_out_device(row["id"]),
            class_name="device-sign-out",
        ),
        justify="between",
        align="center",
        gap="3",
        width="100%",
        class_name="device-row",
    )


def devices_card() -> rx.Component:
    return card(
        rx.heading(T["devices.title"], size="4", as_="h2"),
        rx.text(T["devices.hint"], size="2", color_scheme="gray"),
        rx.vstack(rx.foreach(AccountState.devices, _device), spacing="3", width="100%", id="devices"),
        field_error(AccountState.devices_error_text, "devices-error"),
        rx.cond(
            AccountState.has_other_devices,
            rx.button(
                rx.icon("log-out", size=16),
                T["devices.sign_out_others"],
                variant="soft",
                color_scheme="red",
                disabled=AccountState.signing_out,
                on_click=AccountState.sign_out_others,
                id="sign-out-others",
            ),
        ),
        id="devices-card",
    )

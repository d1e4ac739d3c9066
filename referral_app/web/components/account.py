"""The profile page's account card: "Download my data", and "Delete account" confirmed by an SMS code."""

from __future__ import annotations

import reflex as rx

from referral_app.limits import LOGIN_CODE_INPUT_MAX_LENGTH
from referral_app.web.components.layout import busy_label, card, field_error
from referral_app.web.state.account import AccountState

T = AccountState.t


def _confirm_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.text(AccountState.delete_code_sent_text, size="2", id="delete-code-sent"),
            rx.cond(
                AccountState.delete_demo_code != "",
                rx.callout(AccountState.delete_demo_text, icon="info", id="delete-demo-code"),
            ),
            rx.input(
                id="delete-code-input",
                name="code",
                auto_complete="one-time-code",
                input_mode="numeric",
                max_length=LOGIN_CODE_INPUT_MAX_LENGTH,
                aria_describedby="delete-error",
                size="3",
                width="100%",
            ),
            rx.hstack(
                rx.button(
                    busy_label(AccountState.busy, T["account.confirm"], T["account.confirm"]),
                    type="submit",
                    color_scheme="red",
                    id="confirm-delete",
                ),
                rx.button(T["account.cancel"], type="button", variant="soft", on_click=AccountState.cancel_delete),
                spacing="2",
            ),
            spacing="2",
            width="100%",
        ),
        on_submit=AccountState.confirm_delete,
        reset_on_submit=False,
        width="100%",
    )


def _delete_step() -> rx.Component:
    return rx.vstack(
        rx.callout(T["account.delete_warning"], icon="triangle-alert", color_scheme="red", id="delete-warning"),
        rx.cond(
            AccountState.delete_phone != "",
            _confirm_form(),
            rx.hstack(
                rx.button(
                    busy_label(AccountState.busy, T["account.send_code"], T["login.sending"]),
                    color_scheme="red",
                    on_click=AccountState.send_delete_code,
                    id="send-delete-code",
                ),
                rx.button(T["account.cancel"], variant="soft", on_click=AccountState.cancel_delete),
                spacing="2",
            ),
        ),
        spacing="3",
        width="100%",
    )


def account_card() -> rx.Component:
    return card(
        rx.heading(T["account.title"], size="4", as_="h2"),
        rx.hstack(
            rx.button(
                rx.icon("download", size=16),
                T["account.download"],
                variant="soft",
                on_click=AccountState.download_data,
                id="download-data",
            ),
            rx.cond(
                ~AccountState.deleting,
                rx.button(
                    rx.icon("trash-2", size=16),
                    T["account.delete"],
                    variant="soft",
                    color_scheme="red",
                    on_click=AccountState.start_delete,
                    id="delete-account",
                ),
            ),
            spacing="2",
            wrap="wrap",
        ),
        rx.cond(AccountState.deleting, _delete_step()),
        field_error(AccountState.delete_error_text, "delete-error"),
        id="account-card",
    )

"""`/`: sign in with a phone number, then the SMS code (two steps on one page)."""

from __future__ import annotations

import reflex as rx

from referral_app.limits import PHONE_INPUT_MAX_LENGTH
from referral_app.web.components.layout import busy_label, card, field_error, labelled, page
from referral_app.web.state.login import CODE_STEP, LoginState


def _region_picker() -> rx.Component:
    return rx.select.root(  # named, so the phone form submits the region shown with the number
        rx.select.trigger(id="region-select", aria_label=LoginState.t["login.region"], width="100%"),
        rx.select.content(rx.foreach(LoginState.regions, lambda r: rx.select.item(r[1], value=r[0]))),
        value=LoginState.region,
        on_change=LoginState.set_region,
        name="region",
        size="3",
    )


def _phone_step() -> rx.Component:
    return rx.form(
        card(
            rx.heading(LoginState.t["login.title"], size="6", as_="h1"),
            rx.text(LoginState.t["login.subtitle"], color_scheme="gray", size="2"),
            rx.cond(
                LoginState.notice != "",
                rx.callout(LoginState.notice, icon="info", color_scheme="amber", id="notice", width="100%"),
            ),
            rx.cond(
                LoginState.invite_notice != "",
                rx.callout(LoginState.invite_notice, icon="gift", color_scheme="violet", width="100%"),
            ),
            rx.flex(
                rx.box(labelled(LoginState.t["login.region"], _region_picker(), "region-select"), width="130px"),
                rx.box(
                    labelled(
                        LoginState.t["login.phone"],
                        rx.input(
                            id="phone-input",
                            name="phone",
                            type="tel",
                            input_mode="tel",
                            auto_complete="tel",
                            auto_focus=True,
                            max_length=PHONE_INPUT_MAX_LENGTH,
                            placeholder=LoginState.t["login.phone_placeholder"],
                            value=LoginState.phone,
                            on_change=LoginState.set_phone,
                            size="3",
                            width="100%",
                            aria_invalid=LoginState.phone_error_text != "",
                            aria_describedby="phone-error",
                        ),
                        "phone-input",
                    ),
                    flex="1",
                ),
                gap="3",
                width="100%",
                align="end",
            ),
            field_error(LoginState.phone_error_text, "phone-error"),
            rx.button(
                busy_label(LoginState.sending, LoginState.t["login.send"], LoginState.t["login.sending"]),
                type="submit",
                size="3",
                width="100%",
                disabled=LoginState.sending,  # never on what was typed: Enter must send what the field holds
                id="send-code",
            ),
        ),
        on_submit=LoginState.send_code,
        reset_on_submit=False,
        width="100%",
    )


def _code_step() -> rx.Component:
    return rx.form(
        card(
            rx.heading(LoginState.t["verify.title"], size="6", as_="h1"),
            rx.hstack(
                rx.text(LoginState.sent_to, size="2", id="sent-to"),
                rx.link(
                    LoginState.t["verify.change_number"],
                    on_click=LoginState.change_number,
                    size="2",
                    href="#",
                    id="change-number",
                ),
                wrap="wrap",
                spacing="2",
            ),
            labelled(
                LoginState.t["verify.code"],
                rx.input(
                    id="code-input",
                    name="code",
                    input_mode="numeric",
                    pattern="[0-9]*",
                    auto_complete="one-time-code",
                    auto_focus=True,
                    max_length=LoginState.code_length,
                    # Not bound to `code` (which would debounce it): every keystroke is sent at once, in order.
                    on_change=LoginState.set_code,
                    size="3",
                    width="100%",
                    style={"letterSpacing": "0.6em", "textAlign": "center", "fontSize": "1.4em"},
                    aria_invalid=LoginState.code_error_text != "",
                    aria_describedby="code-error",
                ),
                "code-input",
            ),
            field_error(LoginState.code_error_text, "code-error"),
            rx.button(
                busy_label(LoginState.verifying, LoginState.t["verify.submit"], LoginState.t["verify.checking"]),
                type="submit",
                size="3",
                width="100%",
                disabled=LoginState.verifying,
                id="verify-code",
            ),
            rx.button(
                busy_label(LoginState.sending, LoginState.resend_label, LoginState.t["login.sending"]),
                type="button",
                variant="ghost",
                width="100%",
                on_click=LoginState.send_code,
                disabled=(LoginState.resend_left > 0) | LoginState.sending,
                id="resend-code",
            ),
            rx.cond(
                LoginState.demo_notice != "",
                rx.callout(LoginState.demo_notice, icon="flask-conical", color_scheme="gray", id="demo-code"),
            ),
        ),
        on_submit=LoginState.verify,
        reset_on_submit=False,
        width="100%",
    )


def login_page() -> rx.Component:
    return page(rx.cond(LoginState.step == CODE_STEP, _code_step(), _phone_step()))

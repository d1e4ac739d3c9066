"""`/profile`: invite code and share link, the code I activated, who used my code, my details."""

from __future__ import annotations

import reflex as rx

from referral_app.limits import EMAIL_MAX_LENGTH, INVITE_CODE_INPUT_MAX_LENGTH, NAME_MAX_LENGTH
from referral_app.paths import ADMIN_PAGE
from referral_app.web.components.account import account_card
from referral_app.web.components.devices import devices_card
from referral_app.web.components.layout import busy_label, card, field_error, labelled, page
from referral_app.web.state.admin import AdminState
from referral_app.web.state.profile import ProfileState

T = ProfileState.t
# The system share sheet (Web Share API) where the browser has one, with the text and link the button carries;
# elsewhere the link is copied, as the copy button does (with its toast).
SHARE_SCRIPT = """
(() => {
  const button = document.getElementById('share-button');
  const data = {title: document.title, text: button.dataset.text, url: button.dataset.url};
  if (navigator.share && (!navigator.canShare || navigator.canShare(data))) {
    navigator.share(data).catch(() => {});
  } else {
    document.getElementById('share-link-copy').click();
  }
})()
"""


def _copy_button(value: rx.Var[str], id: str) -> rx.Component:
    return rx.icon_button(
        rx.icon("copy", size=18),
        on_click=ProfileState.copy(value),
        aria_label=T["profile.copy"],
        title=T["profile.copy"],
        size="3",
        variant="soft",
        id=f"{id}-copy",
    )


def _header() -> rx.Component:
    return card(
        rx.flex(
            rx.vstack(
                rx.heading(T["profile.title"], size="6", as_="h1"),
                rx.text(ProfileState.phone, size="4", weight="medium", id="profile-phone"),
                rx.text(ProfileState.member_since_text, size="2", color_scheme="gray"),
                spacing="1",
            ),
            rx.vstack(
                rx.button(
                    rx.icon("log-out", size=16),
                    T["profile.logout"],
                    variant="soft",
                    color_scheme="gray",
                    on_click=ProfileState.logout,
                    id="logout",
                ),
                rx.cond(AdminState.is_operator, rx.link(T["admin.link"], href=ADMIN_PAGE, id="admin-link")),
                align="end",
            ),
            justify="between",
            align="start",
            width="100%",
            gap="3",
        ),
    )


def _share_buttons() -> rx.Component:
    def link(href: rx.Var[str], icon: str, label: rx.Var[str], id: str) -> rx.Component:
        # A link that looks like a button (Radix asChild): one focusable element, no button inside a link.
        return rx.button(
            rx.link(rx.icon(icon, size=16), label, href=href, is_external=True, id=id),
            as_child=True,
            variant="soft",
            size="2",
        )

    return rx.flex(
        rx.button(
            rx.icon("share-2", size=16),
            T["profile.share"],
            size="2",
            on_click=rx.call_script(SHARE_SCRIPT),
            id="share-button",
            custom_attrs={"data-text": ProfileState.share_text, "data-url": ProfileState.share_link},
        ),
        link(ProfileState.telegram_share_url, "send", T["profile.share_telegram"], "share-telegram"),
        link(ProfileState.whatsapp_share_url, "message-circle", T["profile.share_whatsapp"], "share-whatsapp"),
        gap="2",
        wrap="wrap",
        width="100%",
    )


def _my_code() -> rx.Component:
    return card(
        rx.heading(T["profile.my_code"], size="4", as_="h2"),
        rx.hstack(
            rx.code(ProfileState.invite_code, size="7", weight="bold", variant="ghost", id="my-invite-code"),
            _copy_button(ProfileState.invite_code, "my-invite-code"),
            align="center",
            justify="between",
            width="100%",
        ),
        labelled(
            T["profile.share_link"],
            rx.hstack(
                rx.input(value=ProfileState.share_link, read_only=True, id="share-link", size="3", width="100%"),
                _copy_button(ProfileState.share_link, "share-link"),
                width="100%",
            ),
            "share-link",
        ),
        rx.text(T["profile.share_hint"], size="2", color_scheme="gray"),
        _share_buttons(),
        rx.center(
            rx.image(
                src=ProfileState.share_qr, alt=T["profile.qr_alt"], width="180px", height="180px", id="share-qr"
            ),
            width="100%",
        ),
    )


def _activated() -> rx.Component:
    return card(
        rx.heading(T["profile.activated"], size="4", as_="h2"),
        rx.hstack(
            rx.badge(ProfileState.activated_invite_code, size="3", variant="surface", id="activated-code"),
            rx.text(ProfileState.invited_by_text, size="2", color_scheme="gray", id="invited-by"),
            align="center",
            wrap="wrap",
        ),
    )


def _enter_code() -> rx.Component:
    return rx.form(
        card(
            rx.heading(T["profile.enter_code"], size="4", as_="h2"),
            rx.text(T["profile.enter_code_hint"], size="2", color_scheme="gray"),
            rx.cond(
                ProfileState.invite_from_link,
                rx.callout(T["profile.from_link"], icon="gift", color_scheme="violet", id="invite-from-link"),
            ),
            rx.hstack(
                rx.input(
                    id="invite-input",
                    name="invite_code",
                    value=ProfileState.invite_input,
                    on_change=ProfileState.set_invite_input,
                    placeholder=T["profile.invite_placeholder"],
                    aria_label=T["profile.enter_code"],
                    auto_complete="off",
                    max_length=INVITE_CODE_INPUT_MAX_LENGTH,
                    size="3",
                    width="100%",
                    style={"fontFamily": "monospace"},
                    aria_describedby="invite-error",
                ),
                rx.button(
                    busy_label(ProfileState.activating, T["profile.activate"], T["profile.activate"]),
                    type="submit",
                    size="3",
                    disabled=ProfileState.activating,
                    id="activate-invite",
                ),
                width="100%",
            ),
            field_error(ProfileState.invite_error_text, "invite-error"),
        ),
        on_submit=ProfileState.activate_invite,
        reset_on_submit=False,
        width="100%",
    )


def _referrals() -> rx.Component:
    return card(
        rx.flex(
            rx.heading(T["profile.referrals"], size="4", as_="h2"),
            rx.badge(ProfileState.referrals_total_text, size="2", id="referrals-total"),
            justify="between",
            align="center",
            width="100%",
            wrap="wrap",
            gap="2",
        ),
        rx.cond(
            ProfileState.referrals_total == 0,
            rx.text(T["profile.no_referrals"], size="2", color_scheme="gray"),
            rx.vstack(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell(T["profile.phone"]),
                            rx.table.column_header_cell(T["profile.joined"]),
                        )
                    ),
                    rx.table.body(
                        rx.foreach(
                            ProfileState.referrals,
                            lambda r: rx.table.row(rx.table.cell(r["phone"]), rx.table.cell(r["joined"])),
                        )
                    ),
                    width="100%",
                    size="1",
                    id="referrals-table",
                ),
                rx.cond(
                    ProfileState.referrals_pages > 1,
                    rx.flex(
                        rx.button(
                            T["profile.prev"],
                            variant="soft",
                            size="1",
                            on_click=ProfileState.change_page(-1),
                            disabled=ProfileState.referrals_page <= 1,
                            id="referrals-prev",
                        ),
                        rx.text(ProfileState.page_text, size="2", id="referrals-page"),
                        rx.button(
                            T["profile.next"],
                            variant="soft",
                            size="1",
                            on_click=ProfileState.change_page(1),
                            disabled=ProfileState.referrals_page >= ProfileState.referrals_pages,
                            id="referrals-next",
                        ),
                        justify="between",
                        align="center",
                        width="100%",
                    ),
                ),
                width="100%",
            ),
        ),
    )


def _details() -> rx.Component:
    return rx.form(
        card(
            rx.heading(T["profile.details"], size="4", as_="h2"),
            labelled(
                T["profile.name"],
                rx.input(
                    id="name-input",
                    name="name",
                    value=ProfileState.name,
                    on_change=ProfileState.set_name,
                    auto_complete="name",
                    max_length=NAME_MAX_LENGTH,
                    size="3",
                    width="100%",
                ),
                "name-input",
            ),
            labelled(
                T["profile.email"],
                rx.input(
                    id="email-input",
                    name="email",
                    type="email",
                    value=ProfileState.email,
                    on_change=ProfileState.set_email,
                    auto_complete="email",
                    max_length=EMAIL_MAX_LENGTH,
                    size="3",
                    width="100%",
                    aria_describedby="details-error",
                ),
                "email-input",
            ),
            field_error(ProfileState.details_error_text, "details-error"),
            rx.button(
                busy_label(ProfileState.saving, T["profile.save"], T["profile.save"]),
                type="submit",
                size="3",
                disabled=ProfileState.saving,
                id="save-details",
            ),
        ),
        on_submit=ProfileState.save_details,
        reset_on_submit=False,
        no_validate=True,  # the service's translated message explains a bad email, not the browser's
        width="100%",
    )


def profile_page() -> rx.Component:
    return page(
        rx.cond(
            ProfileState.loaded,
            rx.vstack(
                _header(),
                _my_code(),
                rx.cond(ProfileState.activated_invite_code != "", _activated(), _enter_code()),
                _referrals(),
                _details(),
                devices_card(),
                account_card(),
                spacing="4",
                width="100%",
            ),
            rx.center(rx.spinner(size="3"), rx.text(T["loading"], margin_left="8px"), padding="48px"),
        )
    )

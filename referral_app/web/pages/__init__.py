"""Pages of the web app, each a function of the state classes in referral_app/state."""

from __future__ import annotations

import reflex as rx

from referral_app.paths import LOGIN_PAGE, PROFILE_PAGE
from referral_app.web.pages.login import login_page
from referral_app.web.pages.profile import profile_page
from referral_app.web.state.account import AccountState
from referral_app.web.state.login import LoginState
from referral_app.web.state.profile import ProfileState

TITLE = "Referral — sign in with your phone"


def register_pages(app: rx.App) -> None:
    app.add_page(login_page, route=LOGIN_PAGE, title=TITLE, on_load=LoginState.on_load)
    app.add_page(
        profile_page, route=PROFILE_PAGE, title=TITLE, on_load=[ProfileState.on_load, AccountState.on_load]
    )

"""Pages of the web app, each a function of the state classes in referral_app/state."""

from __future__ import annotations

import reflex as rx

from referral_app.paths import (
    ADMIN_PAGE,
    ADMIN_REFERRALS_PAGE,
    ADMIN_SECURITY_PAGE,
    ADMIN_SMS_PAGE,
    ADMIN_USER_PAGE,
    ADMIN_USERS_PAGE,
    LOGIN_PAGE,
    PROFILE_PAGE,
)
from referral_app.web.pages import admin
from referral_app.web.pages.login import login_page
from referral_app.web.pages.profile import profile_page
from referral_app.web.state.account import AccountState
from referral_app.web.state.admin import AdminState
from referral_app.web.state.login import LoginState
from referral_app.web.state.profile import ProfileState

TITLE = "Referral — sign in with your phone"
CONSOLE_TITLE = "Referral — console"


def register_pages(app: rx.App) -> None:
    app.add_page(login_page, route=LOGIN_PAGE, title=TITLE, on_load=LoginState.on_load)
    app.add_page(
        profile_page,
        route=PROFILE_PAGE,
        title=TITLE,
        on_load=[ProfileState.on_load, AccountState.on_load, AdminState.check_operator],
    )
    for component, route, load in (
        (admin.overview_page, ADMIN_PAGE, AdminState.load_overview),
        (admin.users_page, ADMIN_USERS_PAGE, AdminState.load_users),
        (admin.user_page, ADMIN_USER_PAGE, AdminState.load_user),
        (admin.security_page, ADMIN_SECURITY_PAGE, AdminState.load_security),
        (admin.referrals_page, ADMIN_REFERRALS_PAGE, AdminState.load_referrals),
        (admin.sms_page, ADMIN_SMS_PAGE, AdminState.load_sms),
    ):
        app.add_page(component, route=route, title=CONSOLE_TITLE, on_load=load)

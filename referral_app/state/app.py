"""State every page shares: language, the session token, an invite code carried through login."""

from __future__ import annotations

from typing import Any

import reflex as rx

from referral_app.core.config import get_settings
from referral_app.core.db import run_with_session
from referral_app.core.errors import NotAuthenticated, ServiceError
from referral_app.core.i18n import DEFAULT_LANGUAGE, LANGUAGES, translate, ui_texts
from referral_app.core.net import client_ip
from referral_app.services import auth

LOGIN_ROUTE = "/"
PROFILE_ROUTE = "/profile"


class AppState(rx.State):
    # Kept in the browser, so a reload or a new tab stays signed in and keeps the language.
    lang: str = rx.LocalStorage(DEFAULT_LANGUAGE, name="referral_lang", sync=True)
    token: str = rx.LocalStorage("", name="referral_token", sync=True)
    pending_invite: str = rx.LocalStorage("", name="referral_pending_invite")
    # A message for the login page after a redirect (e.g. the session ended).
    notice_key: str = ""

    @rx.var
    def t(self) -> dict[str, str]:
        return ui_texts(self.lang)

    @rx.event
    def set_language(self, lang: str | list[str]) -> None:
        lang = lang[0] if isinstance(lang, list) else lang
        if lang in LANGUAGES:
            self.lang = lang

    @rx.var
    def notice(self) -> str:
        return translate(f"ui.{self.notice_key}", self.lang) if self.notice_key else ""

    def text(self, key: str, **params: Any) -> str:
        return translate(f"ui.{key}", self.lang, **params)

    def error_text(self, stored: dict) -> str:
        """A service error kept with ServiceError.to_dict(), in the current language ("" when none)."""
        return ServiceError.from_dict(stored).message(self.lang) if stored else ""

    def request_ip(self) -> str | None:
        headers = self.router.headers.raw_headers
        peer = headers.get("asgi-scope-client") or self.router.session.client_ip or None
        return client_ip(peer, headers.get("x-forwarded-for"), get_settings().trusted_proxies)

    async def current_user_id(self) -> int | None:
        """The signed-in user, or None (a dead token is forgotten)."""
        if not self.token:
            return None
        try:
            return await run_with_session(auth.authenticate, self.token)
        except NotAuthenticated:
            self.token = ""
            return None

    def session_ended(self) -> rx.event.EventSpec:
        self.token = ""
        self.notice_key = "session_expired"
        return rx.redirect(LOGIN_ROUTE)

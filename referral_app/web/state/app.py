"""State every page shares: language, the session token, an invite code carried through login, and the
one way handlers call services (`_attempt`, `_user_id`) and show their errors (`show_error`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

import reflex as rx
from reflex.event import EventHandler, EventSpec
from sqlmodel import Session

from referral_app.core.i18n import DEFAULT_LANGUAGE, LANGUAGES
from referral_app.paths import LOGIN_PAGE
from referral_app.services import auth, requesters
from referral_app.services.bridge import run_with_session
from referral_app.services.errors import NotAuthenticated, ServiceError
from referral_app.web.texts import ui_text, ui_texts

P = ParamSpec("P")
T = TypeVar("T")

# Reflex types rx.event on EventNamespace.__new__, which mypy reads as making an EventNamespace rather than
# the EventCallback it returns, so that calling a handler (`State.handler(arg)`) would not type-check.
event = cast("Callable[..., Any]", rx.event)

# What handlers hand back to Reflex: events for the browser (a redirect, a toast) or for the state.
Events = EventSpec | EventHandler | list[EventSpec | EventHandler] | None
# A service error as ServiceError.to_dict() keeps it in the state (translated when shown).
StoredError = dict[str, Any]


def clip(value: object, limit: int) -> str:
    """A client-sent value as text of at most `limit` characters (anything but a string is empty)."""
    return value[:limit] if isinstance(value, str) else ""


class AppState(rx.State):
    # Kept in the browser, so a reload or a new tab stays signed in and keeps the language.
    lang: str = rx.LocalStorage(DEFAULT_LANGUAGE, name="referral_lang", sync=True)
    token: str = rx.LocalStorage("", name="referral_token", sync=True)
    pending_invite: str = rx.LocalStorage("", name="referral_pending_invite")
    # A message for the login page after a redirect (e.g. the session ended).
    notice_key: rx.Field[str] = rx.field("")

    @rx.var
    def t(self) -> dict[str, str]:
        return ui_texts(self.lang)

    @rx.var
    def notice(self) -> str:
        return self._text(self.notice_key) if self.notice_key else ""

    @event
    def set_language(self, lang: str | list[str]) -> None:
        lang = lang[0] if isinstance(lang, list) and lang else lang
        if isinstance(lang, str) and lang in LANGUAGES:
            self.lang = lang

    @event
    def show_error(self, error: StoredError) -> Events:
        """Show a service error no handler dealt with itself (web/errors.py sends every one here), in the
        tab's language: an ended session goes back to sign-in, anything else is a toast."""
        failure = ServiceError.from_dict(error)
        if isinstance(failure, NotAuthenticated):
            return self._end_session()
        return rx.toast.error(failure.message(self.lang), id="service-error")

    # --- helpers for the handlers (private: not callable as events) ------------------------------------

    def _text(self, key: str, **params: object) -> str:
        return ui_text(key, self.lang, **params)

    def _error_text(self, stored: StoredError) -> str:
        """A service error kept with ServiceError.to_dict(), in the current language ("" when none)."""
        return ServiceError.from_dict(stored).message(self.lang) if stored else ""

    def _client_ip(self) -> str:
        """The same client identity the API uses (UnknownClient when there is none to be had)."""
        headers = self.router.headers.raw_headers
        peer = headers.get("asgi-scope-client") or self.router.session.client_ip or None
        forwarded = headers.get("x-forwarded-for")
        return requesters.identify(peer, [forwarded] if forwarded else [])

    async def _user_id(self) -> int:
        """The signed-in user; NotAuthenticated (shown by show_error: back to sign-in) when there is none."""
        if not self.token:
            raise NotAuthenticated()
        return await run_with_session(auth.authenticate, token=self.token)

    async def _user_id_or_none(self) -> int | None:
        """The signed-in user, or None: a dead token is forgotten."""
        if not self.token:
            return None
        try:
            return await self._user_id()
        except NotAuthenticated:
            self.token = ""
            return None

    async def _attempt(
        self,
        busy: str,
        errors_to: str,
        fn: Callable[Concatenate[Session, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T | None:
        """Busy flag → service call → stored error. The flag named `busy` is set for the call (the handler
        sets it and yields first, so the page shows it at once). A ServiceError is kept in the var named
        `errors_to`, translated when shown, and None returned; an ended session goes on to show_error."""
        setattr(self, busy, True)
        try:
            return await run_with_session(fn, *args, **kwargs)
        except NotAuthenticated:
            raise
        except ServiceError as error:
            setattr(self, errors_to, error.to_dict())
            return None
        finally:
            setattr(self, busy, False)

    def _end_session(self) -> EventSpec:
        self.token = ""
        self.notice_key = "session_expired"
        return rx.redirect(LOGIN_PAGE)

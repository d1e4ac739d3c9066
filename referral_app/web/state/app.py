"""State every page shares: language, the session token, an invite code carried through login, and the
one way handlers call services (`_attempt`, `_user_id`) and show their errors (`show_error`).

What a client sends is checked before it is kept: setters take `bounded_text`, and the client-storage vars,
which Reflex sets straight from the browser (on connect and when localStorage changes), are checked by
`AppState.__setattr__` whoever sets them. The session token is sealed with the server key whenever the state
is pickled (Redis, disk), so the state store never holds a usable token. Logout and an ended session reset every
var a signed-in page filled (`_forget_user`); the device cookie stays."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

import reflex as rx
from reflex.event import EventHandler, EventSpec
from sqlmodel import Session

from referral_app.core.config import get_settings
from referral_app.core.i18n import DEFAULT_LANGUAGE, LANGUAGES
from referral_app.limits import DEVICE_TOKEN_MAX_LENGTH, INVITE_CODE_MAX_LENGTH, TOKEN_MAX_LENGTH
from referral_app.paths import LOGIN_PAGE
from referral_app.services import auth, requesters, server_keys
from referral_app.services.bridge import run_with_session
from referral_app.services.errors import NotAuthenticated, ServiceError
from referral_app.services.referrals import normalize_invite_code
from referral_app.services.security import seal, unseal
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


def bounded_text(value: object, limit: int) -> str | None:
    """A client-sent value if it is a string of at most `limit` characters; None (ignore it) otherwise."""
    return value if isinstance(value, str) and len(value) <= limit else None


def submitted(form_data: object, name: str, limit: int) -> str | None:
    """A field of a submitted form (Reflex form_data) as the person saw it when they pressed Enter: the state's
    copy may still lag behind the field (set_* and the submit are sent back to back). None: not a bounded string."""
    return bounded_text(form_data.get(name), limit) if isinstance(form_data, dict) else None


def _language(value: object) -> str | None:
    return value if isinstance(value, str) and value in LANGUAGES else None


def _invite_code(value: object) -> str | None:
    typed = bounded_text(value, INVITE_CODE_MAX_LENGTH)
    return normalize_invite_code(typed)[:INVITE_CODE_MAX_LENGTH] if typed is not None else None


# The client-storage vars and what each may hold; a value that fails is dropped (the var keeps its value).
# Every client-storage var of every state must be here (web/events.py lets only these through).
CLIENT_STORAGE_CHECKS: dict[str, Callable[[object], str | None]] = {
    "lang": _language,
    "token": lambda value: bounded_text(value, TOKEN_MAX_LENGTH),
    "pending_invite": _invite_code,
    "device_token": lambda value: bounded_text(value, DEVICE_TOKEN_MAX_LENGTH),
}
DEVICE_COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie
# Secure cookies where the app is served over https (REFLEX_DEPLOY_URL); plain http on localhost needs them off.
_SECURE_COOKIES = get_settings().reflex_deploy_url.startswith("https://")
TOKEN_SEAL = "web-state-token"  # noqa: S105  (the purpose the token is sealed for, not a secret)


def _token_key() -> str:
    return server_keys.loaded_code_hmac_key(get_settings())


def _token_keys() -> tuple[str, ...]:
    # The current key seals; fallbacks still open what was sealed before SECRET_KEY was rotated.
    return server_keys.loaded_verification_keys(get_settings())


class AppState(rx.State):
    # Kept in the browser, so a reload or a new tab stays signed in and keeps the language.
    lang: str = rx.LocalStorage(DEFAULT_LANGUAGE, name="referral_lang", sync=True)
    token: str = rx.LocalStorage("", name="referral_token", sync=True)
    pending_invite: str = rx.LocalStorage("", name="referral_pending_invite")
    # The device token of the last successful sign-in in this browser (OWASP "device cookie"): with it,
    # strangers' failures for the phone never lock its owner out here. It outlives sign-outs and ended sessions
    # (`_forget_user` keeps it): it names the browser, not a session. Reflex writes cookies from the page's
    # script, so it cannot be HttpOnly; it is SameSite=Strict and Secure on https.
    device_token: str = rx.Cookie(
        "", name="referral_device", max_age=DEVICE_COOKIE_MAX_AGE, same_site="strict", secure=_SECURE_COOKIES
    )
    # A message for the login page after a redirect (e.g. the session ended).
    notice_key: rx.Field[str] = rx.field("")

    def __setattr__(self, name: str, value: Any) -> None:
        check = CLIENT_STORAGE_CHECKS.get(name)
        if check is not None:
            checked = check(value)
            if checked is None:
                return
            value = checked
        super().__setattr__(name, value)

    def __getstate__(self) -> dict[str, Any]:
        # Reflex's __getstate__ is untyped: the fields bound to this state, by name.
        fields = dict(cast("Callable[[], dict[str, Any]]", super().__getstate__)())
        if fields.get("token"):
            fields["token"] = seal(_token_key(), TOKEN_SEAL, fields["token"])
        return fields

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state.get("token"), str) and state["token"]:
            state["token"] = unseal(_token_keys(), TOKEN_SEAL, state["token"]) or ""
        super().__setstate__(state)

    @rx.var
    def t(self) -> dict[str, str]:
        return ui_texts(self.lang)

    @rx.var
    def notice(self) -> str:
        return self._text(self.notice_key) if self.notice_key else ""

    @event
    def set_language(self, lang: str | list[str]) -> None:
        # The segmented control may send a one-item list; the value is checked by CLIENT_STORAGE_CHECKS.
        chosen = lang[0] if isinstance(lang, list) and lang else lang
        if isinstance(chosen, str):
            self.lang = chosen

    @event
    async def show_error(self, error: StoredError) -> Events:
        """Show a service error no handler dealt with itself (web/errors.py sends every one here), in the
        tab's language: an ended session goes back to sign-in, anything else is a toast."""
        failure = ServiceError.from_dict(error)
        if isinstance(failure, NotAuthenticated):
            return await self._end_session()
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
        return await auth.authenticated(self.token)

    async def _user_id_or_none(self) -> int | None:
        """The signed-in user, or None: a dead token is forgotten."""
        if not self.token:
            return None
        try:
            return await self._user_id()
        except NotAuthenticated:
            await self._forget_user()
            return None

    async def _attempt(
        self,
        busy: str,
        errors_to: str,
        fn: Callable[Concatenate[Session, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T | None:
        """Busy flag → service call → stored error, for a service function run with its own session in a
        worker thread (`run_with_session`); see `_awaiting` for the rest."""
        return await self._awaiting(busy, errors_to, run_with_session(fn, *args, **kwargs))

    async def _awaiting(self, busy: str, errors_to: str, call: Awaitable[T]) -> T | None:
        """Busy flag → awaited service call → stored error. The flag named `busy` is set for the call (the
        handler sets it and yields first, so the page shows it at once). A ServiceError is kept in the var
        named `errors_to`, translated when shown, and None returned; an ended session goes on to show_error."""
        setattr(self, busy, True)
        try:
            return await call
        except NotAuthenticated:
            raise
        except ServiceError as error:
            setattr(self, errors_to, error.to_dict())
            return None
        finally:
            setattr(self, busy, False)

    async def _forget_user(self) -> None:
        """Sign the tab out on the server: the token and every var the pages filled go back to their defaults,
        so whoever holds the tab's Reflex token learns nothing (the language and a shared invite code stay)."""
        self.token = ""
        for page_state in AppState.get_substates():
            reset = cast("Callable[[], None]", (await self.get_state(page_state)).reset)  # untyped in Reflex
            reset()

    async def _end_session(self) -> EventSpec:
        await self._forget_user()
        self.notice_key = "session_expired"
        return rx.redirect(LOGIN_PAGE)

"""The login flow: phone → code → signed in. Every rule and message comes from the services."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import reflex as rx
from reflex.event import EventHandler, EventSpec

from referral_app.core.config import get_settings
from referral_app.limits import (
    INVITE_CODE_INPUT_MAX_LENGTH,
    INVITE_CODE_MAX_LENGTH,
    LOGIN_CODE_INPUT_MAX_LENGTH,
    PHONE_INPUT_MAX_LENGTH,
)
from referral_app.paths import PROFILE_PAGE
from referral_app.services import auth, funnel, login_codes
from referral_app.services.bridge import run_with_session
from referral_app.services.errors import ServiceError
from referral_app.services.phones import format_phone
from referral_app.services.referrals import normalize_invite_code
from referral_app.web.regions import REGION_OPTIONS
from referral_app.web.state.app import AppState, Events, StoredError, bounded_text, event, submitted

PHONE_STEP, CODE_STEP = "phone", "code"
# WebOTP (https://wicg.github.io/web-otp/): where the browser has it, the code of an SMS ending in
# `@<host> #<code>` is offered with one tap; it fills the field as typing would, and the form is sent.
WEB_OTP_SCRIPT = """
if ('OTPCredential' in window && navigator.credentials) {
  navigator.credentials.get({otp: {transport: ['sms']}}).then((otp) => {
    const input = document.getElementById('code-input');
    if (!otp || !input) return;
    Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set.call(input, otp.code);
    input.dispatchEvent(new Event('input', {bubbles: true}));
    if (input.form) input.form.requestSubmit();
  }).catch(() => {});
}
"""
# A send still "in progress" this long after it started was cut off by its server process dying: the flag
# is kept in the state store (Redis), which outlives the process, so nothing else would ever clear it.
SEND_STALE_AFTER_SECONDS = 15
REGION_LENGTH = 2  # ISO 3166-1 alpha-2


class LoginState(AppState):
    step: rx.Field[str] = rx.field(PHONE_STEP)
    region: rx.Field[str] = rx.field(get_settings().default_region)
    phone: rx.Field[str] = rx.field("")
    normalized_phone: rx.Field[str] = rx.field("")
    code: rx.Field[str] = rx.field("")
    sending: rx.Field[bool] = rx.field(False)
    verifying: rx.Field[bool] = rx.field(False)
    # Seconds until "Send a new code" opens, shown live; derived from _resend_at (wall clock, so any
    # server process can take over the countdown).
    resend_left: rx.Field[int] = rx.field(0)
    _resend_at: float = 0.0
    demo_code: rx.Field[str] = rx.field("")
    code_length: rx.Field[int] = rx.field(get_settings().code_length)
    # Errors are kept as the service raised them and translated when shown, so switching the
    # language re-translates them too.
    phone_error: rx.Field[StoredError] = rx.field(default_factory=dict)
    code_error: rx.Field[StoredError] = rx.field(default_factory=dict)
    _sending_since: float = 0.0
    # The code last checked for the current SMS: typing the last digit and pressing Enter at once sends it
    # twice (set_code's own check and the form), which must spend one attempt, not two.
    _last_tried: str = ""
    # The ticker that owns the countdown: a newer one (after a reconnect, maybe to another server
    # process) supersedes it, so a ticker that died with its process never blocks the countdown.
    _ticker: str = ""

    @rx.var
    def regions(self) -> list[list[str]]:
        return REGION_OPTIONS  # shared by every tab: never changed

    @rx.var
    def phone_error_text(self) -> str:
        return self._error_text(self.phone_error)

    @rx.var
    def code_error_text(self) -> str:
        return self._error_text(self.code_error)

    @rx.var
    def resend_label(self) -> str:
        if self.resend_left > 0:
            return self._text("verify.resend_in", seconds=self.resend_left)
        return self._text("verify.resend")

    @rx.var
    def sent_to(self) -> str:
        return self._text("verify.sent_to", phone=format_phone(self.normalized_phone))

    @rx.var
    def demo_notice(self) -> str:
        return self._text("verify.demo_code", code=self.demo_code) if self.demo_code else ""

    @rx.var
    def invite_notice(self) -> str:
        return self._text("login.invite_pending", code=self.pending_invite) if self.pending_invite else ""

    @event
    async def on_load(self) -> Events:
        invite = bounded_text(self.router.url.query_parameters.get("invite", ""), INVITE_CODE_INPUT_MAX_LENGTH)
        if invite:
            self.pending_invite = normalize_invite_code(invite)[:INVITE_CODE_MAX_LENGTH]
            self.opened_invites = await run_with_session(
                funnel.record_open,
                invite_code=invite,
                user_agent=self.router.headers.user_agent,
                opened_cookie=self.opened_invites,
            )
        if await self._user_id_or_none() is not None:
            return rx.redirect(PROFILE_PAGE)
        # Every (re)connect runs on_load: resume the countdown and the stale-send check here, since the
        # process that ran them may be gone (a restart, or the websocket moved to another process).
        if self.sending or (self.step == CODE_STEP and self.resend_left > 0):
            return LoginState.run_countdown
        return None

    @event
    def set_region(self, region: str) -> None:
        if (value := bounded_text(region, REGION_LENGTH)) is not None:
            self.region = value
            self.phone_error = {}

    @event
    def set_phone(self, phone: str) -> None:
        # The field is debounced: its last value may arrive after Enter sent it, and must not hide the answer.
        if (value := bounded_text(phone, PHONE_INPUT_MAX_LENGTH)) is not None and value != self.phone:
            self.phone = value
            self.phone_error = {}

    def _number_to_send_to(self, form_data: object) -> tuple[str, str] | None:
        """(phone, region) the person sees: on the phone step the submitted form (the `phone` var may still
        lag behind the field: Enter sends set_phone and send_code back to back, and this background event
        can read the state before set_phone is applied); on the code step the number the code went to."""
        if self.step == CODE_STEP:
            return self.normalized_phone, self.region
        phone = submitted(form_data, "phone", PHONE_INPUT_MAX_LENGTH)
        region = submitted(form_data, "region", REGION_LENGTH) or self.region
        # An empty number goes on to the service, whose message explains it.
        return (phone, region) if phone is not None else None

    @event(background=True)
    async def send_code(self, form_data: dict[str, Any] | None = None) -> AsyncIterator[Events]:
        """Background: the 1–2 s simulated delivery must not hold this user's state or anyone else's."""
        async with self:
            if self.sending or (self.step == CODE_STEP and self._resend_at > time.time()):
                return
            if (number := self._number_to_send_to(form_data)) is None:
                return
            phone, region = number
            ip = self._client_ip()  # before `sending` is set: an unknown client is refused right here
            if self.step != CODE_STEP:
                self.phone, self.region = phone, region
            self.sending, self._sending_since = True, time.time()
            self.phone_error, self.code_error = {}, {}
        try:
            issued = await login_codes.send_login_code(phone=phone, region=region, client_ip=ip)
        except ServiceError as error:
            async with self:
                self.sending = False
                if self.step == CODE_STEP:
                    self.code_error = error.to_dict()
                else:
                    self.phone_error = error.to_dict()
            return
        async with self:
            self.sending = False
            self.step = CODE_STEP
            self.normalized_phone = issued.phone
            self.code, self._last_tried = "", ""
            self.code_length = issued.code_length
            self.demo_code = issued.debug_code or ""
            self._resend_at = time.time() + issued.resend_in
            self.resend_left = issued.resend_in
            toast = rx.toast.success(self._text("verify.code_sent"))
        yield [toast, rx.set_focus("code-input"), rx.call_script(WEB_OTP_SCRIPT), LoginState.run_countdown]

    @event(background=True)
    async def run_countdown(self) -> None:
        """Tick the resend countdown once a second, and release a send whose process died.

        Starting one supersedes any earlier ticker (which stops at its next tick), so there is always at
        most one live ticker per session, wherever it runs."""
        ticker = uuid.uuid4().hex
        async with self:
            self._ticker = ticker
        while True:
            async with self:
                if self._ticker != ticker:
                    return
                now = time.time()
                if self.sending and now - self._sending_since > SEND_STALE_AFTER_SECONDS:
                    self.sending = False
                left = math.ceil(self._resend_at - now) if self.step == CODE_STEP else 0
                self.resend_left = max(0, left)
                if not self.sending and self.resend_left == 0:
                    self._ticker = ""
                    return
            await asyncio.sleep(1)

    @event
    def set_code(self, value: str) -> Events:
        """Every keystroke of the code field (not debounced: the field is not bound to `code`, so each reaches
        the server before a following Enter does); the last digit checks the code by itself."""
        if (typed := bounded_text(value, LOGIN_CODE_INPUT_MAX_LENGTH)) is None:
            return None
        self.code = self._digits(typed)
        self.code_error = {}
        if self.code != self._last_tried:
            self._last_tried = ""
        events: list[EventSpec | EventHandler] = (
            [] if self.code == typed else [rx.set_value("code-input", self.code)]
        )
        if len(self.code) == self.code_length and not self.verifying:
            events.append(LoginState.verify)
        return events

    def _digits(self, typed: str) -> str:
        return "".join(ch for ch in typed if ch.isdigit())[: self.code_length]

    @event
    async def verify(self, form_data: dict[str, Any] | None = None) -> AsyncIterator[Events]:
        """Check the code: the submitted field's value when the form was sent (Enter), else the typed code."""
        code = self.code
        if form_data is not None:
            if (typed := submitted(form_data, "code", LOGIN_CODE_INPUT_MAX_LENGTH)) is None:
                return
            code = self._digits(typed)
        # Nothing typed, or this very code already checked (the last digit's own check and Enter both ask).
        if self.verifying or self.step != CODE_STEP or not code or code == self._last_tried:
            return
        self.code = self._last_tried = code
        ip = self._client_ip()  # before `verifying` is set: an unknown client is refused right here
        self.verifying = True
        yield None
        # As the API's: a lock already known is answered on the event loop, without a worker thread.
        result = await self._awaiting(
            "verifying",
            "code_error",
            auth.sign_in(
                phone=self.normalized_phone,
                code=self.code,
                client_ip=ip,
                device_token=self.device_token,
                user_agent=self.router.headers.user_agent,
            ),
        )
        if result is None:
            self.code = ""
            yield [rx.set_value("code-input", ""), rx.set_focus("code-input")]
            return
        self.token = result.access_token
        self.device_token = result.device_token
        self.notice_key = ""
        await funnel.count_signup(is_new_user=result.is_new_user, invite_code=self.pending_invite)
        welcome = self._text("welcome_new" if result.is_new_user else "welcome_back")
        self._reset()
        yield [rx.redirect(PROFILE_PAGE), rx.toast.success(welcome)]

    @event
    def change_number(self) -> Events:
        self._reset()
        return rx.set_focus("phone-input")

    def _reset(self) -> None:
        self.step = PHONE_STEP
        self.code, self.demo_code, self.normalized_phone, self._last_tried = "", "", "", ""
        self.code_error, self.phone_error = {}, {}
        self.resend_left, self._resend_at = 0, 0.0

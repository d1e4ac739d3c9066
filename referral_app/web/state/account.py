"""The profile page's devices card and the account card: sign sessions out, download my data, delete the
account with a code sent to my phone. Every rule is the services'; this state only calls them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import reflex as rx

from referral_app.limits import LOGIN_CODE_INPUT_MAX_LENGTH
from referral_app.paths import LOGIN_PAGE
from referral_app.services import account, login_codes, sessions, users
from referral_app.services.bridge import run_reads
from referral_app.services.errors import NotAuthenticated, ServiceError
from referral_app.services.sessions import DeviceSession, LogoutScope
from referral_app.web.state.app import AppState, Events, StoredError, bounded_text, event

EXPORT_FILENAME = "referral_app-my-data.json"


class AccountState(AppState):
    # One row per live session: id, label, masked IP, last use, "1" for this tab's own.
    devices: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    devices_error: rx.Field[StoredError] = rx.field(default_factory=dict)
    signing_out: rx.Field[bool] = rx.field(False)
    deleting: rx.Field[bool] = rx.field(False)  # the confirmation step is open
    delete_phone: rx.Field[str] = rx.field("")  # where the code went ("" until it was sent)
    delete_demo_code: rx.Field[str] = rx.field("")
    delete_error: rx.Field[StoredError] = rx.field(default_factory=dict)
    busy: rx.Field[bool] = rx.field(False)

    @rx.var
    def devices_error_text(self) -> str:
        return self._error_text(self.devices_error)

    @rx.var
    def delete_error_text(self) -> str:
        return self._error_text(self.delete_error)

    @rx.var
    def delete_code_sent_text(self) -> str:
        return self._text("account.code_sent", phone=self.delete_phone) if self.delete_phone else ""

    @rx.var
    def delete_demo_text(self) -> str:
        return self._text("verify.demo_code", code=self.delete_demo_code) if self.delete_demo_code else ""

    @rx.var
    def has_other_devices(self) -> bool:
        return any(not row["current"] for row in self.devices)

    @event
    async def on_load(self) -> None:
        """Chained by the profile page's on_load (not client-callable)."""
        self.devices_error, self.delete_error = {}, {}
        self.deleting, self.delete_phone, self.delete_demo_code = False, "", ""
        if self.token:
            await self._show_devices()

    async def _show_devices(self) -> None:
        listed = await run_reads(sessions.list_sessions, token=self.token)
        self.devices = [self._device_row(item) for item in listed]

    def _device_row(self, item: DeviceSession) -> dict[str, str]:
        used = item.last_used_at or item.created_at
        return {
            "id": str(item.id),
            "label": item.device_label or self._text("devices.unknown"),
            "ip": item.client_ip or "",
            "last_used": self._text("devices.last_used", when=used.strftime("%d.%m.%Y %H:%M")),
            "current": "1" if item.current else "",
        }

    @event
    async def sign_out_device(self, session_id: str) -> Events:
        """Sign one listed session out; this tab's own goes to sign-in like a logout."""
        row = next((r for r in self.devices if isinstance(session_id, str) and r["id"] == session_id), None)
        if row is None:
            return None
        self.devices_error = {}
        await self._attempt(
            "signing_out",
            "devices_error",
            sessions.revoke_session,
            token=self.token,
            session_id=int(row["id"]),
            client_ip=self._client_ip(),
        )
        if row["current"] and not self.devices_error:
            return await self._end_session()
        await self._show_devices()
        return None if self.devices_error else rx.toast.success(self._text("devices.signed_out", count=1))

    @event
    async def sign_out_others(self) -> Events:
        self.devices_error = {}
        ended = await self._attempt(
            "signing_out",
            "devices_error",
            sessions.logout,
            token=self.token,
            scope=LogoutScope.OTHERS,
            client_ip=self._client_ip(),
        )
        await self._show_devices()
        return rx.toast.success(self._text("devices.signed_out", count=ended)) if ended is not None else None

    @event
    async def download_data(self) -> Events:
        user_id = await self._user_id()
        data = await self._attempt(
            "busy", "delete_error", account.export_account, user_id=user_id, client_ip=self._client_ip()
        )
        if data is None:
            return None
        text = json.dumps(data.as_dict(), default=_iso, ensure_ascii=False, indent=2)
        return rx.download(data=text, filename=EXPORT_FILENAME, mime_type="application/json")

    @event
    def start_delete(self) -> None:
        self.deleting, self.delete_phone, self.delete_demo_code, self.delete_error = True, "", "", {}

    @event
    def cancel_delete(self) -> None:
        self.deleting, self.delete_phone, self.delete_demo_code, self.delete_error = False, "", "", {}

    @event
    async def send_delete_code(self) -> AsyncIterator[Events]:
        """Send a login code to my own phone: the confirmation that a token alone cannot give."""
        user_id = await self._user_id()
        ip = self._client_ip()
        self.busy, self.delete_error = True, {}
        yield None
        try:
            phone = (await run_reads(users.get_profile, user_id=user_id, referrals_limit=0)).phone
            issued = await login_codes.send_login_code(phone=phone, region=None, client_ip=ip)
        except NotAuthenticated:
            raise
        except ServiceError as error:
            self.delete_error = error.to_dict()
            return
        finally:
            self.busy = False
        self.delete_phone = issued.phone
        self.delete_demo_code = issued.debug_code or ""
        yield rx.set_focus("delete-code-input")

    @event
    async def confirm_delete(self, form_data: dict[str, Any] | None = None) -> Events:
        """Delete with the code in the field at the moment of submitting (the form's own value)."""
        code = bounded_text((form_data or {}).get("code"), LOGIN_CODE_INPUT_MAX_LENGTH)
        if not code:
            return rx.set_focus("delete-code-input")
        await self._user_id()
        self.delete_error = {}
        await self._attempt(
            "busy",
            "delete_error",
            account.delete_account,
            token=self.token,
            code=code,
            device_token=self.device_token,
            client_ip=self._client_ip(),
        )
        if self.delete_error:
            return rx.set_focus("delete-code-input")
        await self._forget_user()
        self.notice_key = "account.deleted"
        return rx.redirect(LOGIN_PAGE)


def _iso(value: object) -> str:
    if hasattr(value, "isoformat"):
        return str(value.isoformat()) + "Z"
    raise TypeError(type(value).__name__)

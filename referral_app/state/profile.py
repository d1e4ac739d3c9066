"""The profile page: my invite code and share link, the code I activated, my referrals, my details."""

from __future__ import annotations

import contextlib
import math

import reflex as rx

from referral_app.core.db import run_with_session
from referral_app.core.errors import NotAuthenticated, ServiceError
from referral_app.core.qr import svg_data_uri
from referral_app.schemas import Profile, ReferralPage
from referral_app.services import auth, referrals, users
from referral_app.state.app import LOGIN_ROUTE, AppState

REFERRALS_PER_PAGE = 10


class ProfileState(AppState):
    loaded: bool = False
    phone: str = ""
    invite_code: str = ""
    activated_invite_code: str = ""
    invited_by: str = ""
    member_since: str = ""
    name: str = ""
    email: str = ""
    referrals: list[dict[str, str]] = []
    referrals_total: int = 0
    referrals_page: int = 1
    invite_input: str = ""
    invite_from_link: bool = False
    invite_error: dict = {}
    details_error: dict = {}
    activating: bool = False
    saving: bool = False
    origin: str = ""

    @rx.var
    def share_link(self) -> str:
        return f"{self.origin}/?invite={self.invite_code}" if self.invite_code else ""

    @rx.var
    def share_qr(self) -> str:
        return svg_data_uri(self.share_link) if self.share_link else ""

    @rx.var
    def member_since_text(self) -> str:
        return self.text("profile.member_since", date=self.member_since) if self.member_since else ""

    @rx.var
    def invited_by_text(self) -> str:
        return self.text("profile.invited_by", phone=self.invited_by) if self.invited_by else ""

    @rx.var
    def referrals_total_text(self) -> str:
        return self.text("profile.referrals_total", count=self.referrals_total)

    @rx.var
    def page_text(self) -> str:
        return self.text("profile.page", page=self.referrals_page, pages=self.referrals_pages)

    @rx.var
    def referrals_pages(self) -> int:
        return max(1, math.ceil(self.referrals_total / REFERRALS_PER_PAGE))

    @rx.var
    def invite_error_text(self) -> str:
        return self.error_text(self.invite_error)

    @rx.var
    def details_error_text(self) -> str:
        return self.error_text(self.details_error)

    @rx.event
    async def on_load(self):  # type: ignore[no-untyped-def]
        self.loaded = False
        self.origin = self.router.url.origin
        if not self.token:
            return rx.redirect(LOGIN_ROUTE)
        if (user_id := await self.current_user_id()) is None:
            return self.session_ended()
        try:
            profile = await run_with_session(users.get_profile, user_id)
            page = await run_with_session(users.list_referrals, user_id, REFERRALS_PER_PAGE, 0)
        except NotAuthenticated:
            return self.session_ended()
        self._show(profile)
        self._show_page(page, 1)
        self.invite_input = self.pending_invite if not profile.activated_invite_code else ""
        self.invite_from_link = bool(self.invite_input)
        self.invite_error, self.details_error = {}, {}
        self.loaded = True
        return None

    def _show(self, profile: Profile) -> None:
        self.phone = profile.phone
        self.invite_code = profile.invite_code
        self.activated_invite_code = profile.activated_invite_code or ""
        self.invited_by = profile.invited_by or ""
        self.member_since = profile.created_at.strftime("%d.%m.%Y")
        self.name = profile.name or ""
        self.email = profile.email or ""

    def _show_page(self, page: ReferralPage, number: int) -> None:
        self.referrals = [
            {"phone": item.phone, "joined": item.joined_at.strftime("%d.%m.%Y %H:%M")} for item in page.items
        ]
        self.referrals_total = page.total
        self.referrals_page = number

    @rx.event
    def set_invite_input(self, value: str) -> None:
        self.invite_input = value[:32].upper()
        self.invite_from_link = False
        self.invite_error = {}

    @rx.event
    async def activate_invite(self, form_data: dict | None = None):  # type: ignore[no-untyped-def]
        if (user_id := await self.current_user_id()) is None:
            yield self.session_ended()
            return
        self.activating = True
        yield
        try:
            profile = await run_with_session(
                referrals.activate_invite, user_id, self.invite_input, self.request_ip()
            )
        except ServiceError as error:
            self.invite_error = error.to_dict()
            self.activating = False
            return
        self._show(profile)
        self.pending_invite = ""
        self.invite_input, self.invite_from_link, self.activating = "", False, False
        yield rx.toast.success(self.text("profile.activated_toast"))

    @rx.event
    async def change_page(self, delta: int):  # type: ignore[no-untyped-def]
        number = min(max(1, self.referrals_page + delta), self.referrals_pages)
        if (user_id := await self.current_user_id()) is None:
            return self.session_ended()
        page = await run_with_session(
            users.list_referrals, user_id, REFERRALS_PER_PAGE, (number - 1) * REFERRALS_PER_PAGE
        )
        self._show_page(page, number)
        return None

    @rx.event
    def set_name(self, value: str) -> None:
        self.name = value
        self.details_error = {}

    @rx.event
    def set_email(self, value: str) -> None:
        self.email = value
        self.details_error = {}

    @rx.event
    async def save_details(self, form_data: dict | None = None):  # type: ignore[no-untyped-def]
        if (user_id := await self.current_user_id()) is None:
            yield self.session_ended()
            return
        self.saving = True
        yield
        try:
            profile = await run_with_session(users.update_profile, user_id, name=self.name, email=self.email)
        except ServiceError as error:
            self.details_error = error.to_dict()
            self.saving = False
            return
        self._show(profile)
        self.saving = False
        yield rx.toast.success(self.text("profile.saved"))

    @rx.event
    def copy(self, value: str):  # type: ignore[no-untyped-def]
        return [rx.set_clipboard(value), rx.toast.success(self.text("profile.copied"))]

    @rx.event
    async def logout(self):  # type: ignore[no-untyped-def]
        if self.token:
            with contextlib.suppress(NotAuthenticated):  # already revoked or expired: same outcome
                await run_with_session(auth.logout, self.token, self.request_ip())
        self.token = ""
        self.loaded = False
        return [rx.redirect(LOGIN_ROUTE), rx.toast.success(self.text("profile.logged_out"))]

"""The profile page: my invite code and share link, the code I activated, my referrals, my details."""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlencode

import reflex as rx

from referral_app.limits import EMAIL_MAX_LENGTH, INVITE_CODE_INPUT_MAX_LENGTH, NAME_MAX_LENGTH
from referral_app.paths import LOGIN_PAGE
from referral_app.services import auth, funnel, referrals, sessions, users
from referral_app.services.bridge import run_reads, run_with_session
from referral_app.services.errors import NotAuthenticated
from referral_app.services.phones import format_phone
from referral_app.services.referrals import normalize_invite_code
from referral_app.services.users import Profile, Referral
from referral_app.web.qr import svg_data_uri
from referral_app.web.state.app import AppState, Events, StoredError, bounded_text, event, submitted
from referral_app.web.state.news import ReferralNews, announce_referral, news_token

REFERRALS_PER_PAGE = 10


class ProfileState(AppState):
    loaded: rx.Field[bool] = rx.field(False)
    phone: rx.Field[str] = rx.field("")
    invite_code: rx.Field[str] = rx.field("")
    activated_invite_code: rx.Field[str] = rx.field("")
    invited_by: rx.Field[str] = rx.field("")
    inviter_deleted: rx.Field[bool] = rx.field(False)
    member_since: rx.Field[str] = rx.field("")
    name: rx.Field[str] = rx.field("")
    email: rx.Field[str] = rx.field("")
    referrals: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    referrals_total: rx.Field[int] = rx.field(0)
    referrals_page: rx.Field[int] = rx.field(1)
    invite_input: rx.Field[str] = rx.field("")
    invite_from_link: rx.Field[bool] = rx.field(False)
    invite_error: rx.Field[StoredError] = rx.field(default_factory=dict)
    details_error: rx.Field[StoredError] = rx.field(default_factory=dict)
    activating: rx.Field[bool] = rx.field(False)
    saving: rx.Field[bool] = rx.field(False)
    origin: rx.Field[str] = rx.field("")
    # My code's funnel: (opened, signed up, activated) for 7 days, 30 days, all time.
    funnel_counts: rx.Field[list[list[int]]] = rx.field(default_factory=list)
    _seen_news: str = ""  # the live news this tab has shown (web/state/news.py)

    @rx.var
    def share_link(self) -> str:
        return f"{self.origin}/?invite={self.invite_code}" if self.invite_code else ""

    @rx.var
    def share_text(self) -> str:
        return self._text("profile.share_text", code=self.invite_code) if self.invite_code else ""

    @rx.var
    def telegram_share_url(self) -> str:
        return f"https://t.me/share/url?{urlencode({'url': self.share_link, 'text': self.share_text}, quote_via=quote)}"

    @rx.var
    def whatsapp_share_url(self) -> str:
        return f"https://wa.me/?{urlencode({'text': f'{self.share_text} {self.share_link}'}, quote_via=quote)}"

    @rx.var
    def share_qr(self) -> str:
        return svg_data_uri(self.share_link) if self.share_link else ""

    @rx.var
    def member_since_text(self) -> str:
        return self._text("profile.member_since", date=self.member_since) if self.member_since else ""

    @rx.var
    def invited_by_text(self) -> str:
        if self.inviter_deleted:
            return self._text("profile.invited_by_deleted")
        return self._text("profile.invited_by", phone=self.invited_by) if self.invited_by else ""

    @rx.var
    def referrals_total_text(self) -> str:
        return self._text("profile.referrals_total", count=self.referrals_total)

    @rx.var
    def page_text(self) -> str:
        return self._text("profile.page", page=self.referrals_page, pages=self.referrals_pages)

    @rx.var
    def referrals_pages(self) -> int:
        return max(1, math.ceil(self.referrals_total / REFERRALS_PER_PAGE))

    @rx.var
    def funnel_rows(self) -> list[dict[str, str]]:
        labels = ("profile.funnel_7", "profile.funnel_30", "profile.funnel_all")
        return [
            {
                "period": self._text(label),
                "opened": str(row[0]),
                "signed_up": str(row[1]),
                "activated": str(row[2]),
            }
            for label, row in zip(labels, self.funnel_counts, strict=False)
        ]

    @rx.var
    def invite_error_text(self) -> str:
        return self._error_text(self.invite_error)

    @rx.var
    def details_error_text(self) -> str:
        return self._error_text(self.details_error)

    @event
    async def on_load(self) -> Events:
        self.loaded = False
        self.origin = self.router.url.origin
        if not self.token:
            return rx.redirect(LOGIN_PAGE)
        # One read for the token and the page: the profile carries the first page of referrals and their count.
        profile = await auth.profile_of(self.token, referrals_limit=REFERRALS_PER_PAGE)
        user_id = profile.id
        await self._follow_news(user_id)
        self._show(profile)
        self._show_referrals(profile.referrals, profile.referrals_count, 1)
        await self._show_funnel(user_id)
        self.invite_input = self.pending_invite if not profile.activated_invite_code else ""
        self.invite_from_link = bool(self.invite_input)
        self.invite_error, self.details_error = {}, {}
        self.loaded = True
        return None

    async def _show_funnel(self, user_id: int) -> None:
        stats = await run_reads(funnel.invite_stats, user_id=user_id)
        self.funnel_counts = [
            [counts.opened, counts.signed_up, counts.activated]
            for counts in (stats.last_7_days, stats.last_30_days, stats.all_time)
        ]

    async def _follow_news(self, user_id: int) -> None:
        """Link this tab to the user's live news (web/state/news.py); what is there already is no news."""
        news = await self.get_state(ReferralNews)
        linked = await news._link_to(news_token(user_id))  # Reflex's documented way to link a shared state
        self._seen_news = linked.news_id

    @event
    async def news_arrived(self) -> Events:
        """Sent by the page when the linked news changed: someone activated my code. The referrals, their count
        and the funnel are read again, and the newest referral is announced."""
        news = await self.get_state(ReferralNews)
        if not self.loaded or not self.token or news.news_id == self._seen_news:
            return None
        self._seen_news = news.news_id
        user_id = await self._user_id()
        page = await run_reads(
            users.list_referrals,
            user_id=user_id,
            limit=REFERRALS_PER_PAGE,
            offset=(self.referrals_page - 1) * REFERRALS_PER_PAGE,
        )
        self._show_referrals(page.items, page.total, self.referrals_page)
        await self._show_funnel(user_id)
        newest = (
            page.items
            if self.referrals_page == 1
            else (await run_reads(users.list_referrals, user_id=user_id, limit=1)).items
        )
        if not newest:
            return None
        return rx.toast.info(self._text("profile.news", phone=format_phone(newest[0].phone)), id="referral-news")

    def _show(self, profile: Profile) -> None:
        self.phone = format_phone(profile.phone)
        self.invite_code = profile.invite_code
        self.activated_invite_code = profile.activated_invite_code or ""
        self.invited_by = format_phone(profile.invited_by) if profile.invited_by else ""
        self.inviter_deleted = profile.inviter_deleted
        self.member_since = profile.created_at.strftime("%d.%m.%Y")
        self.name = profile.name or ""
        self.email = profile.email or ""

    def _show_referrals(self, items: list[Referral], total: int, page: int) -> None:
        self.referrals = [
            {"phone": format_phone(item.phone), "joined": item.joined_at.strftime("%d.%m.%Y %H:%M")}
            for item in items
        ]
        self.referrals_total = total
        self.referrals_page = page

    @event
    def set_invite_input(self, value: str) -> None:
        # The fields are debounced: a value arriving after Enter sent it must not hide the answer.
        if (
            typed := bounded_text(value, INVITE_CODE_INPUT_MAX_LENGTH)
        ) is not None and typed.upper() != self.invite_input:
            self.invite_input = typed.upper()
            self.invite_from_link = False
            self.invite_error = {}

    @event
    async def activate_invite(self, form_data: dict[str, Any] | None = None) -> AsyncIterator[Events]:
        """Activate the code in the field when the form was sent (the service checks it). An empty field sends
        nothing: an Enter that carried over from the sign-in's code field lands here on arrival."""
        typed = submitted(form_data, "invite_code", INVITE_CODE_INPUT_MAX_LENGTH)
        if form_data is not None and typed is None:
            return
        if typed is not None:
            self.invite_input = typed.upper()
        invite_code = self.invite_input
        if not normalize_invite_code(invite_code):
            return
        user_id = await self._user_id()
        self.activating = True
        yield None
        profile = await self._attempt(
            "activating",
            "invite_error",
            referrals.activate_invite,
            user_id=user_id,
            invite_code=invite_code,
            client_ip=self._client_ip(),
        )
        if profile is None:
            return
        self._show(profile)
        self.pending_invite = ""
        self.invite_input, self.invite_from_link = "", False
        await announce_referral(user_id)
        yield rx.toast.success(self._text("profile.activated_toast"))

    @event
    async def change_page(self, delta: int) -> None:
        step = delta if isinstance(delta, int) and not isinstance(delta, bool) else 0
        number = min(max(1, self.referrals_page + step), self.referrals_pages)
        user_id = await self._user_id()
        page = await run_reads(
            users.list_referrals,
            user_id=user_id,
            limit=REFERRALS_PER_PAGE,
            offset=(number - 1) * REFERRALS_PER_PAGE,
        )
        self._show_referrals(page.items, page.total, number)

    @event
    def set_name(self, value: str) -> None:
        if (typed := bounded_text(value, NAME_MAX_LENGTH)) is not None and typed != self.name:
            self.name = typed
            self.details_error = {}

    @event
    def set_email(self, value: str) -> None:
        if (typed := bounded_text(value, EMAIL_MAX_LENGTH)) is not None and typed != self.email:
            self.email = typed
            self.details_error = {}

    @event
    async def save_details(self, form_data: dict[str, Any] | None = None) -> AsyncIterator[Events]:
        """Save the name and email the fields held when the form was sent (the service checks both)."""
        if form_data is not None:
            name, email = (
                submitted(form_data, "name", NAME_MAX_LENGTH),
                submitted(form_data, "email", EMAIL_MAX_LENGTH),
            )
            if name is None or email is None:
                return
            self.name, self.email = name, email
        user_id = await self._user_id()
        self.saving = True
        yield None
        profile = await self._attempt(
            "saving", "details_error", users.update_profile, user_id=user_id, name=self.name, email=self.email
        )
        if profile is None:
            return
        self._show(profile)
        yield rx.toast.success(self._text("profile.saved"))

    @event
    def copy(self, value: str) -> Events:
        """Copy the share link or the invite code (the only things the page copies)."""
        if value not in (self.share_link, self.invite_code) or not value:
            return None
        return [rx.set_clipboard(value), rx.toast.success(self._text("profile.copied"))]

    @event
    async def logout(self) -> Events:
        if self.token:
            with contextlib.suppress(NotAuthenticated):  # already revoked or expired: same outcome
                await run_with_session(sessions.logout, token=self.token, client_ip=self._client_ip())
        await self._forget_user()
        return [rx.redirect(LOGIN_PAGE), rx.toast.success(self._text("profile.logged_out"))]

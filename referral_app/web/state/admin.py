"""The operator's console (`/admin…`): a thin caller of services/admin.py, which checks the operator on every
call. Every handler here starts with `_operator()` (or a service call that checks it in its own transaction);
for anyone else it answers nothing and the pages show the ordinary not-found text, so a non-operator tab
gets no console data whichever event it sends. Actions are confirmed with a typed reason; one refused for an
old sign-in (`reauth_required`) asks for a fresh code to the operator's own phone first."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar, cast

import reflex as rx

from referral_app.core.clock import utcnow
from referral_app.core.config import get_settings
from referral_app.limits import (
    ADMIN_CHART_DAYS,
    ADMIN_LEADERBOARD_ROWS,
    ADMIN_REASON_MAX_LENGTH,
    ADMIN_SEARCH_MAX_LENGTH,
    ADMIN_TREE_DEPTH,
    ADMIN_TREE_NODES_MAX,
    IP_MAX_LENGTH,
    LOGIN_CODE_INPUT_MAX_LENGTH,
    PHONE_INPUT_MAX_LENGTH,
    ROW_ID_MAX,
)
from referral_app.paths import ADMIN_USER_PAGE
from referral_app.services import admin, auth, login_codes, sessions
from referral_app.services.admin import AuditFilter, Operator, Page, SmsFilter
from referral_app.services.audit import Event
from referral_app.services.bridge import run_reads, run_with_session
from referral_app.services.errors import NotFound, ReauthRequired, ServiceError
from referral_app.services.phones import format_phone
from referral_app.services.sessions import LogoutScope
from referral_app.services.sms.base import Status as SmsStatus
from referral_app.web.state.app import AppState, Events, StoredError, event, submitted

Row = dict[str, str]
T = TypeVar("T")
OVERVIEW_REFRESH_SECONDS = 5  # how often the open overview reads its figures again
OVERVIEW_LIVE_SECONDS = 30 * 60  # then it stops (a tab left open is not read for ever); a reload starts it again
PERIOD_DAYS = (1, 7, 30, 365)  # the referral page's periods
EXPORT_FILENAME = "referral_app-audit.csv"
# What an operator may do to a user: the action -> (needs a target id, the service call).
ACTIONS = (
    "sign_out_session",
    "sign_out_all",
    "revoke_device",
    "revoke_devices",
    "end_locks",
    "block",
    "unblock",
    "delete",
)
TARGETED = {"sign_out_session", "revoke_device"}


def _when(moment: datetime | None) -> str:
    return moment.strftime("%d.%m.%Y %H:%M") if moment is not None else "—"


def _int(value: object, default: int = 0) -> int:
    """A client-sent number (an int, or digits as text) that a row id can be, else `default`."""
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= len(str(ROW_ID_MAX)):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not -ROW_ID_MAX <= value <= ROW_ID_MAX:
        return default
    return value


def _spend(spend: dict[str, Decimal]) -> str:
    """Amounts per currency, as "7.50 RUB, 0.05 USD"; "0" when nothing was reported."""
    return ", ".join(f"{amount:.2f} {currency}" for currency, amount in spend.items()) or "0"


def _cost(cost: Decimal | None, currency: str | None) -> str:
    return f"{cost:.4f} {currency or ''}".strip() if cost is not None else "—"


def _day(text: str | None, *, end: bool = False) -> datetime | None:
    """A date field's value (YYYY-MM-DD) as midnight UTC; the next midnight for the end of a range."""
    try:
        day = datetime.strptime((text or "").strip(), "%Y-%m-%d")
    except ValueError:
        return None
    return day + timedelta(days=1) if end else day


class AdminState(AppState):
    section: rx.Field[str] = rx.field("")  # the console page open: "" until the operator check passed
    is_operator: rx.Field[bool] = rx.field(False)  # the profile page's Admin link
    operator_phone: rx.Field[str] = rx.field("")
    # Overview.
    figures: rx.Field[Row] = rx.field(default_factory=dict)
    chart: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    updated_at: rx.Field[str] = rx.field("")
    # Users.
    query: rx.Field[str] = rx.field("")
    sort: rx.Field[str] = rx.field(admin.UserSort.JOINED.value)
    users: rx.Field[list[Row]] = rx.field(default_factory=list)
    users_page: rx.Field[int] = rx.field(0)
    users_more: rx.Field[bool] = rx.field(False)
    search_error: rx.Field[StoredError] = rx.field(default_factory=dict)
    # One user.
    user_id: rx.Field[int] = rx.field(0)
    profile: rx.Field[Row] = rx.field(default_factory=dict)
    inviters: rx.Field[list[Row]] = rx.field(default_factory=list)
    sessions: rx.Field[list[Row]] = rx.field(default_factory=list)
    devices: rx.Field[list[Row]] = rx.field(default_factory=list)
    locks: rx.Field[list[Row]] = rx.field(default_factory=list)
    referrals: rx.Field[list[Row]] = rx.field(default_factory=list)
    referrals_page: rx.Field[int] = rx.field(0)
    referrals_more: rx.Field[bool] = rx.field(False)
    # The audit trail: the security page's, or one user's on their page.
    events: rx.Field[list[Row]] = rx.field(default_factory=list)
    events_page: rx.Field[int] = rx.field(0)
    events_more: rx.Field[bool] = rx.field(False)
    event_filter: rx.Field[Row] = rx.field(default_factory=dict)
    # Referrals.
    period_days: rx.Field[int] = rx.field(7)
    leaders: rx.Field[list[Row]] = rx.field(default_factory=list)
    shared_clients: rx.Field[list[Row]] = rx.field(default_factory=list)
    quick: rx.Field[list[Row]] = rx.field(default_factory=list)
    chains: rx.Field[list[Row]] = rx.field(default_factory=list)
    # A user's referral tree, read when asked for.
    tree: rx.Field[list[Row]] = rx.field(default_factory=list)
    tree_shown: rx.Field[bool] = rx.field(False)
    tree_complete: rx.Field[bool] = rx.field(True)
    # Security: the locks in force.
    locked: rx.Field[list[Row]] = rx.field(default_factory=list)
    locked_page: rx.Field[int] = rx.field(0)
    locked_more: rx.Field[bool] = rx.field(False)
    lock_phone: rx.Field[str] = rx.field("")  # the listed phone whose locks an action on this page ends
    # SMS.
    sms: rx.Field[list[Row]] = rx.field(default_factory=list)
    sms_page: rx.Field[int] = rx.field(0)
    sms_more: rx.Field[bool] = rx.field(False)
    sms_filter: rx.Field[Row] = rx.field(default_factory=dict)
    sms_day: rx.Field[Row] = rx.field(default_factory=dict)
    sms_providers: rx.Field[list[Row]] = rx.field(default_factory=list)
    provider_names: rx.Field[list[str]] = rx.field(default_factory=list)
    # An action being confirmed, and a fresh sign-in it may need first.
    pending_action: rx.Field[str] = rx.field("")
    pending_target: rx.Field[str] = rx.field("")
    action_error: rx.Field[StoredError] = rx.field(default_factory=dict)
    busy: rx.Field[bool] = rx.field(False)
    reauth_needed: rx.Field[bool] = rx.field(False)
    reauth_sent: rx.Field[bool] = rx.field(False)
    reauth_demo_code: rx.Field[str] = rx.field("")
    reauth_error: rx.Field[StoredError] = rx.field(default_factory=dict)
    _ticker: str = ""

    @rx.var
    def allowed(self) -> bool:
        return self.section != ""

    @rx.var
    def action_error_text(self) -> str:
        return self._error_text(self.action_error)

    @rx.var
    def search_error_text(self) -> str:
        return self._error_text(self.search_error)

    @rx.var
    def reauth_error_text(self) -> str:
        return self._error_text(self.reauth_error)

    @rx.var
    def reauth_demo_text(self) -> str:
        return self._text("verify.demo_code", code=self.reauth_demo_code) if self.reauth_demo_code else ""

    @rx.var
    def pending_text(self) -> str:
        if not self.pending_action:
            return ""
        if self.section == "security":  # ending the locks of a phone listed there
            return self._text("admin.confirm.end_locks_of", target=self.pending_target)
        return self._text(f"admin.confirm.{self.pending_action}", target=self.pending_target)

    @rx.var
    def tree_cut_text(self) -> str:
        return self._text("admin.user.tree_cut", nodes=ADMIN_TREE_NODES_MAX, depth=ADMIN_TREE_DEPTH)

    @rx.var
    def sms_statuses(self) -> list[str]:
        return ["", *(status.value for status in SmsStatus)]

    @rx.var
    def event_kinds(self) -> list[str]:
        return ["", *(kind.value for kind in Event)]

    # --- the operator check: first in every handler ------------------------------------------------------

    async def _operator(self, section: str | None = None) -> Operator | None:
        """The signed-in operator, or None: then everything the console showed is forgotten."""
        try:
            operator = await run_reads(admin.require_operator, token=self.token)
        except NotFound:
            self._deny()
            return None
        if section is not None:
            self.section = section
        self.operator_phone = operator.phone
        return operator

    def _deny(self) -> None:
        cast("Callable[[], None]", self.reset)()  # untyped in Reflex; AdminState's own vars only

    async def _read(self, call: Callable[..., T], **kwargs: Any) -> T | None:
        """A console read, checked by the service itself; a refusal forgets the console."""
        try:
            return await run_reads(call, token=self.token, **kwargs)
        except NotFound:
            self._deny()
            return None

    # --- page loads (chained by the pages' on_load; not client-callable) -------------------------------

    @event
    async def check_operator(self) -> None:
        """The profile page's Admin link: shown to operators only."""
        self.is_operator = bool(self.token) and await self._operator() is not None
        self.section = ""

    @event
    async def load_overview(self) -> Events:
        if await self._operator("overview") is None:
            return None
        await self._show_overview()
        return AdminState.run_overview

    async def _show_overview(self) -> None:
        await self._show_figures()
        series = await self._read(admin.daily, days=ADMIN_CHART_DAYS)
        if series is not None:
            self.chart = [
                {
                    "day": d.day[5:],
                    "sign_ups": d.sign_ups,
                    "activations": d.activations,
                    "sms_sent": d.sms_sent,
                    "sms_delivered": d.sms_delivered,
                }
                for d in series
            ]

    async def _show_figures(self) -> None:
        shown = await self._read(admin.figures)
        if shown is not None:
            self.figures = {
                name: _spend(value) if isinstance(value, dict) else str(value)
                for name, value in vars(shown).items()
            }
            self.updated_at = utcnow().strftime("%H:%M:%S")

    @event(background=True)
    async def run_overview(self) -> None:
        """Read the figures again every OVERVIEW_REFRESH_SECONDS while this tab shows the overview (each read
        checks the operator; the 30-day chart is read on load only); a newer ticker, another page or
        OVERVIEW_LIVE_SECONDS stop it."""
        ticker, started = uuid.uuid4().hex, time.monotonic()
        async with self:
            self._ticker = ticker
        while time.monotonic() - started < OVERVIEW_LIVE_SECONDS:
            await asyncio.sleep(OVERVIEW_REFRESH_SECONDS)
            async with self:
                if self._ticker != ticker or self.section != "overview":
                    return
                await self._show_figures()
                if self.section != "overview":
                    return

    @event
    async def load_users(self) -> None:
        if await self._operator("users") is not None:
            await self._show_users()

    async def _show_users(self) -> None:
        self.search_error = {}
        found = await self._read(admin.find_users, query=self.query, sort=self.sort, page=self.users_page)
        if found is not None:
            self.users = [self._user_row(row) for row in found.items]
            self.users_more = found.has_more

    def _user_row(self, row: admin.UserRow) -> Row:
        status = "deleted" if row.deleted else "blocked" if row.blocked else "admin" if row.is_admin else ""
        return {
            "id": str(row.id),
            "href": f"{ADMIN_USER_PAGE}?id={row.id}",
            "phone": format_phone(row.phone),
            "name": row.name or "",
            "email": row.email or "",
            "invite_code": row.invite_code,
            "joined": _when(row.created_at),
            "last_sign_in": _when(row.last_login_at),
            "referrals": str(row.referrals),
            "status": self._text(f"admin.status.{status}") if status else "",
        }

    @event
    async def load_user(self) -> None:
        self.user_id = _int(self.router.url.query_parameters.get("id"))
        self.referrals_page = self.events_page = 0
        self.tree, self.tree_shown, self.tree_complete = [], False, True
        self.pending_action, self.action_error = "", {}
        if await self._operator("user") is not None:
            await self._show_user()

    async def _show_user(self) -> None:
        try:
            detail = await run_reads(admin.user_detail, token=self.token, user_id=self.user_id)
        except NotFound:
            if await self._operator("user") is not None:  # an operator, and no such user
                self.profile = {}
            return
        user = detail.user
        self.profile = {
            **self._user_row(user),
            "activated_at": _when(detail.activated_at),
            "live": "" if user.deleted else "1",
        }
        self.inviters = [
            {
                "href": f"{ADMIN_USER_PAGE}?id={link.id}",
                "phone": format_phone(link.phone),
                "code": link.invite_code,
            }
            for link in detail.inviters
        ]
        self.sessions = [
            {
                "id": str(s.id),
                "label": s.device_label or self._text("devices.unknown"),
                "device": str(s.device_id or "—"),
                "ip": s.client_ip or "",
                "signed_in": _when(s.created_at),
                "last_used": _when(s.last_used_at),
            }
            for s in detail.sessions
        ]
        self.devices = [
            {
                "id": str(d.id),
                "label": d.label or self._text("devices.unknown"),
                "last_used": _when(d.last_used_at),
                "expires": _when(d.expires_at),
            }
            for d in detail.devices
        ]
        self.locks = [
            {
                "scope": self._text(f"admin.lock.{lock.scope.value}"),
                "until": _when(lock.locked_until),
                "failures": f"{lock.failures:.1f}",
            }
            for lock in detail.locks
        ]
        await self._show_referrals()
        await self._show_events(AuditFilter(user_id=self.user_id))

    async def _show_referrals(self) -> None:
        page = await self._read(admin.user_referrals, user_id=self.user_id, page=self.referrals_page)
        if page is not None:
            self.referrals = [
                {
                    "href": f"{ADMIN_USER_PAGE}?id={r.id}",
                    "phone": format_phone(r.phone),
                    "at": _when(r.activated_at),
                }
                for r in page.items
            ]
            self.referrals_more = page.has_more

    async def _show_events(self, wanted: AuditFilter) -> None:
        page: Page[admin.EventRow] | None = await self._read(
            admin.audit_trail, wanted=wanted, page=self.events_page
        )
        if page is not None:
            self.events = [
                {
                    "at": e.created_at.strftime("%d.%m.%Y %H:%M:%S"),
                    "event": e.event,
                    "user": str(e.user_id or ""),
                    "href": f"{ADMIN_USER_PAGE}?id={e.user_id}" if e.user_id else "",
                    "phone": e.phone or "",
                    "client": e.client_ip or "",
                    "detail": e.detail or "",
                }
                for e in page.items
            ]
            self.events_more = page.has_more

    @event
    async def load_security(self) -> None:
        self.events_page = self.locked_page = 0
        self.pending_action, self.action_error = "", {}
        if await self._operator("security") is not None:
            await self._show_locked()
            await self._show_events(self._audit_filter())

    async def _show_locked(self) -> None:
        page = await self._read(admin.locked_phones, page=self.locked_page)
        if page is not None:
            self.locked = [
                {
                    "phone": format_phone(lock.phone),
                    "e164": lock.phone,
                    "href": f"{ADMIN_USER_PAGE}?id={lock.user_id}" if lock.user_id else "",
                    "scope": self._text(f"admin.lock.{lock.scope.value}"),
                    "until": _when(lock.locked_until),
                    "failures": f"{lock.failures:.1f}",
                }
                for lock in page.items
            ]
            self.locked_more = page.has_more

    @event
    async def load_sms(self) -> None:
        self.sms_page = 0
        if await self._operator("sms") is not None:
            await self._show_sms_day()
            await self._show_sms()

    async def _show_sms_day(self) -> None:
        day = await self._read(admin.sms_today)
        if day is None:
            return
        rate = day.delivery_rate
        self.sms_day = {
            "sent": str(day.sent),
            "delivered": str(day.delivered),
            "failed": str(day.failed),
            "rate": f"{rate:.0%}" if rate is not None else "—",
            "spend": _spend(day.spend),
        }
        self.sms_providers = [
            {
                "provider": p.provider or self._text("admin.sms.no_provider"),
                "sent": str(p.sent),
                "delivered": str(p.delivered),
                "failed": str(p.failed),
            }
            for p in day.providers
        ]
        named = {p.provider for p in day.providers if p.provider}
        self.provider_names = ["", *sorted(named | set(get_settings().sms_providers))]

    async def _show_sms(self) -> None:
        wanted = SmsFilter(status=self.sms_filter.get("status", ""), provider=self.sms_filter.get("provider", ""))
        page = await self._read(admin.sms_messages, wanted=wanted, page=self.sms_page)
        if page is not None:
            self.sms = [
                {
                    "at": m.created_at.strftime("%d.%m.%Y %H:%M:%S"),
                    "phone": format_phone(m.phone),
                    "provider": m.provider or "—",
                    "status": m.status,
                    "cost": _cost(m.cost, m.currency),
                    "error": m.error or "",
                }
                for m in page.items
            ]
            self.sms_more = page.has_more

    def _audit_filter(self) -> AuditFilter:
        wanted = self.event_filter
        return AuditFilter(
            event=wanted.get("event", ""),
            phone=wanted.get("phone", ""),
            client=wanted.get("client", ""),
            since=_day(wanted.get("since")),
            until=_day(wanted.get("until"), end=True),
        )

    @event
    async def load_referrals(self) -> None:
        if await self._operator("referrals") is not None:
            await self._show_referral_board()

    async def _show_referral_board(self) -> None:
        until = utcnow()
        since = until - timedelta(days=self.period_days)
        board = await self._read(admin.leaderboard, since=since, until=until, limit=ADMIN_LEADERBOARD_ROWS)
        found = await self._read(admin.flags, since=since, until=until)
        if board is None or found is None:
            return
        self.leaders = [
            {
                "href": f"{ADMIN_USER_PAGE}?id={i.id}",
                "phone": format_phone(i.phone),
                "name": i.name or "",
                "count": str(i.activations),
            }
            for i in board
        ]
        self.shared_clients = [
            {
                "client": c.client_ip,
                "count": str(c.activations),
                "users": " ".join(str(u) for u in c.user_ids),
                "href": f"{ADMIN_USER_PAGE}?id={c.user_ids[0]}" if c.user_ids else "",
            }
            for c in found.shared_clients
        ]
        self.quick = [
            {
                "href": f"{ADMIN_USER_PAGE}?id={q.user_id}",
                "phone": format_phone(q.phone),
                "seconds": str(q.seconds),
                "inviter": f"{ADMIN_USER_PAGE}?id={q.inviter_id}" if q.inviter_id else "",
            }
            for q in found.quick
        ]
        self.chains = [
            {
                "href": f"{ADMIN_USER_PAGE}?id={c.user_ids[0]}",
                "chain": " → ".join(format_phone(phone) for phone in c.phones),
                "count": str(len(c.user_ids) - 1),
            }
            for c in found.chains
        ]

    # --- what the pages send ---------------------------------------------------------------------------

    @event
    async def search(self, form_data: dict[str, Any] | None = None) -> None:
        if await self._operator() is None:
            return
        self.query = submitted(form_data, "query", ADMIN_SEARCH_MAX_LENGTH) or ""
        self.users_page = 0
        await self._show_users()

    @event
    async def set_sort(self, sort: str) -> None:
        if await self._operator() is None:
            return
        if isinstance(sort, str) and sort in {s.value for s in admin.UserSort}:
            self.sort, self.users_page = sort, 0
            await self._show_users()

    @event
    async def change_users_page(self, delta: int) -> None:
        if await self._operator() is None:
            return
        self.users_page = max(0, self.users_page + (1 if _int(delta, -1) > 0 else -1))
        await self._show_users()

    @event
    async def change_referrals_page(self, delta: int) -> None:
        if await self._operator() is None:
            return
        self.referrals_page = max(0, self.referrals_page + (1 if _int(delta, -1) > 0 else -1))
        await self._show_referrals()

    @event
    async def change_events_page(self, delta: int) -> None:
        if await self._operator() is None:
            return
        self.events_page = max(0, self.events_page + (1 if _int(delta, -1) > 0 else -1))
        wanted = AuditFilter(user_id=self.user_id) if self.section == "user" else self._audit_filter()
        await self._show_events(wanted)

    @event
    async def filter_events(self, form_data: dict[str, Any] | None = None) -> None:
        if await self._operator() is None:
            return
        event_kind = submitted(form_data, "event", 40) or ""
        self.event_filter = {
            "event": event_kind if event_kind in self.event_kinds else "",
            "phone": submitted(form_data, "phone", PHONE_INPUT_MAX_LENGTH) or "",
            "client": submitted(form_data, "client", IP_MAX_LENGTH) or "",
            "since": submitted(form_data, "since", 10) or "",
            "until": submitted(form_data, "until", 10) or "",
        }
        self.events_page = 0
        await self._show_events(self._audit_filter())

    @event
    async def export_events(self) -> Events:
        if await self._operator() is None:
            return None
        try:
            text = await run_with_session(
                admin.audit_csv, token=self.token, wanted=self._audit_filter(), client_ip=self._client_ip()
            )
        except NotFound:
            self._deny()
            return None
        return rx.download(data=text, filename=EXPORT_FILENAME, mime_type="text/csv")

    @event
    async def show_tree(self) -> None:
        """The open user's referral tree (bounded: services/admin.referral_tree)."""
        if await self._operator() is None or not self.profile:
            return
        found = await self._read(admin.referral_tree, user_id=self.user_id)
        if found is None:
            return
        self.tree = [
            {
                "href": f"{ADMIN_USER_PAGE}?id={node.id}",
                "phone": format_phone(node.phone),
                "indent": f"{(node.depth - 1) * 20}px",
                "at": _when(node.activated_at),
                "referrals": str(node.referrals),
            }
            for node in found.nodes
        ]
        self.tree_shown, self.tree_complete = True, found.complete

    @event
    async def change_locked_page(self, delta: int) -> None:
        if await self._operator() is None:
            return
        self.locked_page = max(0, self.locked_page + (1 if _int(delta, -1) > 0 else -1))
        await self._show_locked()

    @event
    async def filter_sms(self, form_data: dict[str, Any] | None = None) -> None:
        if await self._operator() is None:
            return
        status = submitted(form_data, "status", 20) or ""
        provider = submitted(form_data, "provider", 40) or ""
        self.sms_filter = {
            "status": status if status in self.sms_statuses else "",
            "provider": provider if provider in self.provider_names else "",
        }
        self.sms_page = 0
        await self._show_sms()

    @event
    async def change_sms_page(self, delta: int) -> None:
        if await self._operator() is None:
            return
        self.sms_page = max(0, self.sms_page + (1 if _int(delta, -1) > 0 else -1))
        await self._show_sms()

    @event
    async def set_period(self, days: str | list[str]) -> None:
        if await self._operator() is None:
            return
        chosen = _int(days[0] if isinstance(days, list) and days else days)
        if chosen in PERIOD_DAYS:
            self.period_days = chosen
            await self._show_referral_board()

    @event
    async def start_action(self, action: str, target: str = "") -> None:
        """Open the confirmation of an action on the open user (a session or device id for the targeted); on
        the security page, of ending the locks of a listed phone (`target` the phone in E.164)."""
        if await self._operator() is None or action not in ACTIONS:
            return
        if self.section == "security":
            listed = [r["phone"] for r in self.locked if r["e164"] == target]
            if action != "end_locks" or not listed:
                return
            self.lock_phone, self.pending_action, self.pending_target = target, action, listed[0]
            self.action_error = {}
            return
        if not self.profile or (action in TARGETED and _int(target) <= 0):
            return
        self.pending_action = action
        self.pending_target = str(_int(target)) if action in TARGETED else ""
        self.action_error = {}

    @event
    async def cancel_action(self) -> None:
        if await self._operator() is None:
            return
        self.pending_action, self.pending_target, self.action_error = "", "", {}
        self.reauth_needed = self.reauth_sent = False

    @event
    async def confirm_action(self, form_data: dict[str, Any] | None = None) -> Events:
        """Do the confirmed action with the reason typed in its form; the service checks the operator (and a
        recent sign-in) in the action's own transaction."""
        if await self._operator() is None or not self.pending_action:
            return None
        reason = submitted(form_data, "reason", ADMIN_REASON_MAX_LENGTH * 2) or ""
        action, target = self.pending_action, _int(self.pending_target)
        common: dict[str, Any] = {
            "token": self.token,
            "reason": reason,
            "client_ip": self._client_ip(),
            **({"phone": self.lock_phone} if self.section == "security" else {"user_id": self.user_id}),
        }
        calls: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
            "sign_out_session": (admin.sign_out, {"session_id": target}),
            "sign_out_all": (admin.sign_out, {}),
            "revoke_device": (admin.revoke_devices, {"device_id": target}),
            "revoke_devices": (admin.revoke_devices, {}),
            "end_locks": (admin.end_locks, {}),
            "block": (admin.set_blocked, {"blocked": True}),
            "unblock": (admin.set_blocked, {"blocked": False}),
            "delete": (admin.delete_user, {}),
        }
        call, extra = calls[action]
        self.busy, self.action_error = True, {}
        try:
            await run_with_session(call, **common, **extra)
        except NotFound:
            if await self._operator() is None:
                return None
            self.action_error = NotFound().to_dict()
            return None
        except ReauthRequired as error:
            self.reauth_needed, self.action_error = True, error.to_dict()
            return None
        except ServiceError as error:
            self.action_error = error.to_dict()
            return None
        finally:
            self.busy = False
        self.pending_action, self.pending_target = "", ""
        if self.section == "security":
            await self._show_locked()
        else:
            await self._show_user()
        return rx.toast.success(self._text(f"admin.done.{action}"))

    @event
    async def send_reauth_code(self) -> Events:
        """A fresh code to the operator's own phone, to sign in again before the action."""
        operator = await self._operator()
        if operator is None:
            return None
        self.reauth_error = {}
        try:
            issued = await login_codes.send_login_code(
                phone=operator.phone, region=None, client_ip=self._client_ip()
            )
        except ServiceError as error:
            self.reauth_error = error.to_dict()
            return None
        self.reauth_sent, self.reauth_demo_code = True, issued.debug_code or ""
        return rx.set_focus("reauth-code")

    @event
    async def confirm_reauth(self, form_data: dict[str, Any] | None = None) -> Events:
        """Sign in again with the code: the tab gets the new session, the old one ends."""
        operator = await self._operator()
        code = submitted(form_data, "code", LOGIN_CODE_INPUT_MAX_LENGTH)
        if operator is None or not code:
            return None
        self.reauth_error = {}
        try:
            result = await auth.sign_in(
                phone=operator.phone,
                code=code,
                client_ip=self._client_ip(),
                device_token=self.device_token,
                user_agent=self.router.headers.user_agent,
            )
        except ServiceError as error:
            self.reauth_error = error.to_dict()
            return rx.set_focus("reauth-code")
        old = self.token
        self.token, self.device_token = result.access_token, result.device_token
        with contextlib.suppress(ServiceError):  # ended meanwhile: nothing to end
            await run_with_session(
                sessions.logout, token=old, scope=LogoutScope.CURRENT, client_ip=self._client_ip()
            )
        self.reauth_needed = self.reauth_sent = False
        self.reauth_demo_code, self.action_error = "", {}
        return rx.toast.success(self._text("admin.reauth.done"))

"""The funnel of each invite code, counted per UTC day: links opened, accounts created by people who arrived with
the code, activations of it; and the owner's totals for the last 7 and 30 days and all time.

An open is counted once per browser per code per day: the browser keeps the codes it was counted for today in a
cookie (`OPENED_COOKIE`, shared by the web app and the API's share link), so nothing is stored per visit. Bots
(by User-Agent: crawlers, link previews, HTTP libraries) are not counted. A code that is unknown, retired (its
owner deleted the account) or not a code at all counts nothing, and the visitor sees no difference: the cookie
takes any well-formed code alike, and the answer is the same."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from referral_app.core.clock import utcnow
from referral_app.core.db import transaction
from referral_app.limits import FUNNEL_OPENED_MAX_CODES, USER_AGENT_INPUT_MAX_LENGTH
from referral_app.models import InviteFunnelDay, User
from referral_app.services import referrals
from referral_app.services.bridge import run_with_session

log = logging.getLogger(__name__)

Step = Literal["opened", "signed_up", "activated"]

OPENED_COOKIE = "referral_opened"
OPENED_COOKIE_MAX_AGE = 2 * 24 * 3600  # outlives its day wherever the browser's clock is

# Crawlers, link previews of messengers and social networks, and HTTP libraries. A browser driven by automation
# (headless Chrome) is a browser: it runs the page.
_BOTS = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|preview|facebookexternalhit|whatsapp|telegram|vkshare|skype|embedly"
    r"|curl/|wget/|python-|httpx|postman|okhttp|go-http-client|java/|libwww|http_request|node-fetch|axios|scrapy",
    re.IGNORECASE,
)


def is_bot(user_agent: str | None) -> bool:
    text = (user_agent or "")[:USER_AGENT_INPUT_MAX_LENGTH].strip()
    return not text or _BOTS.search(text) is not None


_funnel = cast("sa.Table", sa.inspect(InviteFunnelDay).local_table)
_users = cast("sa.Table", sa.inspect(User).local_table)
_STEPS: tuple[Step, ...] = ("opened", "signed_up", "activated")


def _add(session: Session, step: Step, owner: sa.ColumnElement[bool]) -> None:
    """+1 on today's row of the user `owner` picks, created when missing: one statement, so concurrent counts never
    race. When `owner` picks nobody, nothing is written."""
    today = utcnow().date()
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    source = sa.select(
        _users.c.id, sa.literal(today, sa.Date), *(sa.literal(int(name == step)) for name in _STEPS)
    ).where(owner)
    insert = dialect.insert(_funnel).from_select(["user_id", "day", *_STEPS], source)
    session.execute(
        insert.on_conflict_do_update(index_elements=["user_id", "day"], set_={step: _funnel.c[step] + 1})
    )


def _owner_of(code: str) -> sa.ColumnElement[bool] | None:
    """Picks the live owner of a code as typed (None when it cannot be a code); a retired code picks nobody."""
    code = referrals.normalize_invite_code(code)
    if not referrals.is_well_formed(code):
        return None
    return sa.and_(_users.c.invite_code == code, _users.c.deleted_at.is_(None))


def count_activation(session: Session, *, owner_id: int) -> None:
    """Inside the activation's transaction."""
    _add(session, "activated", _users.c.id == owner_id)


def record_signup(session: Session, *, invite_code: str) -> None:
    """A new account was created by someone who arrived with `invite_code` (any text: junk counts nothing)."""
    owner = _owner_of(invite_code)
    if owner is not None:
        with transaction(session, write=True):
            _add(session, "signed_up", owner)


async def count_signup(*, is_new_user: bool, invite_code: str | None) -> None:
    """After a sign-in (web or API) that came with an invite code: a sign-up for it when the account is new. Its
    own transaction after the sign-in's, so a failure to count is logged and never fails the sign-in."""
    if not is_new_user or not invite_code:
        return
    try:
        await run_with_session(record_signup, invite_code=invite_code)
    except Exception:
        log.exception("counting a sign-up in an invite funnel failed")


def _opened_today(cookie: str | None, today: date) -> list[str]:
    """The codes a browser's cookie says were counted today (anything unreadable: none)."""
    day, _, codes = (cookie or "").partition("-")
    if day != today.strftime("%Y%m%d"):
        return []
    return [code for code in codes.split("-") if referrals.is_well_formed(code)][:FUNNEL_OPENED_MAX_CODES]


def record_open(session: Session, *, invite_code: str, user_agent: str | None, opened_cookie: str | None) -> str:
    """A visit to a share link: counted for the code's owner unless a bot, or this browser was counted for the code
    today. Returns the browser's cookie value from now on (the same for every well-formed code, known or not)."""
    today = utcnow().date()
    seen = _opened_today(opened_cookie, today)
    code = referrals.normalize_invite_code(invite_code)
    if not referrals.is_well_formed(code) or code in seen:
        return "-".join([today.strftime("%Y%m%d"), *seen]) if seen else (opened_cookie or "")
    if not is_bot(user_agent) and (owner := _owner_of(code)) is not None:
        with transaction(session, write=True):
            _add(session, "opened", owner)
    seen = [*seen, code][-FUNNEL_OPENED_MAX_CODES:]
    return "-".join([today.strftime("%Y%m%d"), *seen])


@dataclass(frozen=True)
class FunnelCounts:
    opened: int
    signed_up: int
    activated: int


@dataclass(frozen=True)
class InviteStats:
    last_7_days: FunnelCounts  # today and the 6 days before (UTC)
    last_30_days: FunnelCounts
    all_time: FunnelCounts


def _sums(since: date | None) -> list[sa.ColumnElement[int]]:
    return [
        sa.func.coalesce(
            sa.func.sum(
                _funnel.c[step] if since is None else sa.case((_funnel.c.day >= since, _funnel.c[step]), else_=0)
            ),
            0,
        )
        for step in _STEPS
    ]


def invite_stats(session: Session, *, user_id: int) -> InviteStats:
    today = utcnow().date()
    week, month = today - timedelta(days=6), today - timedelta(days=29)
    with transaction(session):
        row = session.execute(
            sa.select(*_sums(week), *_sums(month), *_sums(None)).where(col(InviteFunnelDay.user_id) == user_id)
        ).one()
    values = [int(value) for value in row]
    return InviteStats(
        last_7_days=FunnelCounts(*values[0:3]),
        last_30_days=FunnelCounts(*values[3:6]),
        all_time=FunnelCounts(*values[6:9]),
    )

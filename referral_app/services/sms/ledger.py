"""The ledger of SMS sent (`sms_messages`): a row written with the login code it carries, then moved forward
by the provider's answer, its receipts and status queries. It never holds the text or the code.

It is also where the daily spend is read: SMS_MAX_SPEND_PER_DAY refuses new sends once what providers
reported for today's messages (in SMS_SPEND_CURRENCY) reaches it."""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from decimal import Decimal
from typing import cast

import sqlalchemy as sa
from sqlmodel import Session, col, select

from referral_app.core.clock import utcnow
from referral_app.core.config import Settings
from referral_app.core.db import transaction
from referral_app.limits import SMS_ERROR_MAX_LENGTH
from referral_app.models import SmsMessage, Timestamp
from referral_app.services import audit, counters
from referral_app.services.audit import Event
from referral_app.services.errors import RateLimited
from referral_app.services.phones import mask_phone
from referral_app.services.sms.base import FINAL, RANK, Accepted, Status, StatusReport

log = logging.getLogger("referral_app.sms")

UNDELIVERED_COUNTER = "sms_undelivered"  # rate_counters: undelivered and failed receipts per provider and hour
_messages = cast("sa.Table", sa.inspect(SmsMessage).local_table)
_INSERT = sa.insert(_messages)


def record_queued(session: Session, *, message_id: str, phone: str, now: datetime) -> None:
    """In the caller's transaction: the row of the SMS that will carry the code being written there."""
    session.execute(
        _INSERT,
        {
            "id": message_id,
            "phone": phone,
            "provider": "",
            "status": Status.QUEUED.value,
            "created_at": now,
            "updated_at": now,
        },
    )


def record_failed(session: Session, *, message_id: str, error: str, now: datetime) -> None:
    """In the caller's transaction (the code's withdrawal): no provider took the message."""
    session.execute(
        sa.update(_messages)
        .where(_messages.c.id == message_id, _messages.c.status == Status.QUEUED.value)
        .values(status=Status.FAILED.value, error=error[:SMS_ERROR_MAX_LENGTH], updated_at=now)
    )


# Built once: it runs for every SMS sent, in the group commit of the code_sent audit rows.
_ACCEPTED = (
    sa.update(_messages)
    .where(_messages.c.id == sa.bindparam("message_id"))
    .values(
        provider=sa.bindparam("a_provider"),
        provider_message_id=sa.bindparam("a_message_id"),
        status=sa.bindparam("a_status"),
        cost=sa.bindparam("a_cost", type_=_messages.c.cost.type),
        currency=sa.bindparam("a_currency"),
        updated_at=sa.bindparam("a_now", type_=Timestamp),
    )
)


def accepted_update(message_id: str, accepted: Accepted, now: datetime) -> audit.Companion:
    """The provider's yes for the row (its name and message id, status and price), as a statement to commit with
    the code_sent audit row (audit.record_grouped): a burst of sends shares a few write transactions."""
    return _ACCEPTED, {
        "message_id": message_id,
        "a_provider": accepted.provider,
        "a_message_id": accepted.message_id,
        "a_status": accepted.status.value,
        "a_cost": accepted.cost,
        "a_currency": accepted.currency,
        "a_now": now,
    }


def alert_on_reported_cost(session: Session, *, accepted: Accepted, settings: Settings) -> None:
    """After an accepted message's price was recorded: the ALERT line if it took today's spend to the cap."""
    if accepted.cost is None or accepted.currency != settings.sms_spend_currency:
        return
    with transaction(session):
        _alert_if_cap_reached(session, accepted.cost, utcnow(), settings)


def apply_report(session: Session, *, provider: str, report: StatusReport, settings: Settings) -> Status | None:
    """Move a message forward on a receipt or status query; returns its status now, or None when the report
    changed nothing: an unknown message, a status it already has or has passed (a replay, or receipts out of
    order), or one after a final status. Undelivered and failed messages are audited and counted."""
    with transaction(session, f"sms:{provider}:{report.message_id}"):
        row = session.exec(
            select(SmsMessage)
            .where(col(SmsMessage.provider) == provider, col(SmsMessage.provider_message_id) == report.message_id)
            .with_for_update()
        ).first()
        if row is None:
            return None
        current = Status(row.status)
        if current in FINAL or RANK[report.status] <= RANK[current]:
            return None
        now = utcnow()
        row.status, row.updated_at = report.status.value, now
        if report.error:
            row.error = report.error[:SMS_ERROR_MAX_LENGTH]
        if report.cost is not None:
            added = report.cost - (row.cost or Decimal(0))
            row.cost, row.currency = report.cost, report.currency
            if added > 0 and report.currency == settings.sms_spend_currency:
                _alert_if_cap_reached(session, added, now, settings)
        if report.status in (Status.UNDELIVERED, Status.FAILED):
            audit.record(
                session,
                Event.SMS_UNDELIVERED,
                phone=row.phone,
                detail=f"{report.status.value}: {report.error or ''}",
            )
            counters.add(session, UNDELIVERED_COUNTER, provider, now=now)
            log.warning("SMS to %s %s (%s)", mask_phone(row.phone), report.status.value, report.error)
        return report.status


def _day_start(now: datetime) -> datetime:
    return datetime(now.year, now.month, now.day)


def spent_today(session: Session, now: datetime, currency: str) -> Decimal:
    total = session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(_messages.c.cost), 0)).where(
            _messages.c.created_at >= _day_start(now), _messages.c.currency == currency
        )
    ).scalar_one()
    return Decimal(str(total))


def check_spend(session: Session, now: datetime, s: Settings) -> None:
    """Refuse a send (`rate_limited`, until midnight UTC) once today's reported spend reached the cap."""
    if s.sms_max_spend_per_day is None:
        return
    if spent_today(session, now, s.sms_spend_currency) >= s.sms_max_spend_per_day:
        midnight = _day_start(now) + timedelta(days=1)
        raise RateLimited(retry_after=max(1, math.ceil((midnight - now).total_seconds())), reason="sms_spend_cap")


def _alert_if_cap_reached(session: Session, added: Decimal, now: datetime, s: Settings) -> None:
    """The ALERT line once, when this message's cost takes today's spend to the cap or past it."""
    if s.sms_max_spend_per_day is None:
        return
    total = spent_today(session, now, s.sms_spend_currency)
    if total >= s.sms_max_spend_per_day > total - added:
        log.critical(
            "ALERT: the daily SMS spend cap is reached: %s %s of %s; sends are refused until midnight UTC",
            total,
            s.sms_spend_currency,
            s.sms_max_spend_per_day,
        )

"""The security audit trail: who did what, when and from where — never a code or a token."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypedDict, TypeVar, Unpack, cast

import sqlalchemy as sa
from sqlmodel import Session, col, delete, func, select, update

from referral_app.core import metrics
from referral_app.core.clock import utcnow
from referral_app.core.db import rowcount, transaction
from referral_app.limits import (
    AUDIT_RETENTION_MIN_DAYS,
    REFUSAL_AUDIT_INTERVAL_SECONDS,
    REFUSAL_DISTINCT_COUNTED_MAX,
    REFUSAL_SOURCES_PER_KIND,
    REFUSALS_PER_AUDIT_ROW,
)
from referral_app.models import AuditEvent, AuditPurge
from referral_app.services.bridge import run_with_session
from referral_app.services.errors import ServiceError
from referral_app.services.phones import mask_phone

log = logging.getLogger(__name__)

E = TypeVar("E", bound=ServiceError)


class Event(StrEnum):
    CODE_REQUESTED = "code_requested"
    CODE_REFUSED = "code_refused"  # detail: the limit that refused it
    CODE_SENT = "code_sent"
    SMS_FAILED = "sms_failed"  # detail: what each provider did; the code was withdrawn
    SMS_UNDELIVERED = "sms_undelivered"  # a receipt or status query: undelivered or failed (detail: why)
    WRONG_CODE = "wrong_code"  # detail: the error answered (invalid_code, too_many_attempts, rate_limited)
    VERIFY_REFUSED = "verify_refused"  # detail: the limit (phone_locked, verify_ip_limit); not evaluated
    CODE_BURNED = "code_burned"
    PHONE_LOCKED = "phone_locked"
    LOGIN = "login"
    NEW_USER = "new_user"
    TOKEN_REVOKED = "token_revoked"  # noqa: S105  (an event name; detail: why, and the session id)
    DEVICE_REVOKED = "device_revoked"  # detail: why, and the device's row id
    INVITE_ACTIVATED = "invite_activated"  # detail: the activated code
    INVITE_REJECTED = "invite_rejected"  # detail: the reason (error code)
    ACCOUNT_EXPORTED = "account_exported"
    ACCOUNT_DELETED = "account_deleted"  # phone: masked, like every earlier event of the number
    WEBHOOK_REPLAYED = "webhook_replayed"  # detail: the delivery, who asked and why (an operator, by the CLI)
    WEBHOOK_ENABLED = "webhook_enabled"  # detail: who asked and why; the endpoint is in the log line
    DATA_PURGED = "data_purged"  # detail: the rows the retention purge removed, per kind (services/retention.py)
    # The console: user_id is the operator; phone the target's; detail `#<target id> <what>: <reason>`.
    ADMIN_GRANTED = "admin_granted"  # user_id: the new operator; detail: who ran the command
    ADMIN_REMOVED = "admin_removed"
    ADMIN_SIGNED_OUT = "admin_signed_out"
    ADMIN_DEVICES_REVOKED = "admin_devices_revoked"
    ADMIN_LOCK_ENDED = "admin_lock_ended"
    ADMIN_BLOCKED = "admin_blocked"
    ADMIN_UNBLOCKED = "admin_unblocked"
    ADMIN_DELETED = "admin_deleted"
    ADMIN_EXPORTED = "admin_exported"  # an audit trail export; detail: how many rows


class EventFields(TypedDict, total=False):
    phone: str | None
    user_id: int | None
    client_ip: str | None
    detail: str | None


_EMPTY_FIELDS: EventFields = {"phone": None, "user_id": None, "client_ip": None, "detail": None}


# A Core insert built once (no ORM object and flush): every sign-in writes two events, every send one.
_INSERT_EVENT = sa.insert(cast("sa.Table", sa.inspect(AuditEvent).local_table))


def _row(event: Event, fields: EventFields) -> dict[str, object]:
    return {"created_at": utcnow(), "event": event.value, **_EMPTY_FIELDS, **fields}


def _signed_in(_: str | None) -> None:
    metrics.verification(metrics.VERIFIED)
    metrics.signed_in()


# What an audited event counts in the metrics (core/metrics.py), given its detail: the metrics and the audit
# trail count the same things, once each.
_METRICS: dict[Event, Callable[[str | None], None]] = {
    Event.CODE_SENT: lambda _: metrics.code_sent(),
    Event.CODE_REFUSED: metrics.code_refused,  # detail: the limit
    Event.SMS_FAILED: lambda _: metrics.sms_failed(),
    Event.WRONG_CODE: metrics.verification,  # detail: the error answered
    Event.VERIFY_REFUSED: metrics.verification,  # detail: the limit
    Event.PHONE_LOCKED: lambda _: metrics.phone_locked(),
    Event.LOGIN: _signed_in,
    Event.NEW_USER: lambda _: metrics.new_user(),
    Event.INVITE_ACTIVATED: lambda _: metrics.invite_activated(),  # never the code (the detail)
}
_UNCOUNTED = "audit_events_uncounted"  # session.info: events recorded in the open transaction


def _count(event: Event, detail: str | None) -> None:
    if (count := _METRICS.get(event)) is not None:
        count(detail)


@sa.event.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    for event, detail in session.info.pop(_UNCOUNTED, ()):
        _count(event, detail)


@sa.event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_UNCOUNTED, None)


def record(session: Session, event: Event, **fields: Unpack[EventFields]) -> None:
    """Add the event to the caller's transaction: it is kept exactly when the action is, and counted in the
    metrics when that transaction commits."""
    session.execute(_INSERT_EVENT, _row(event, fields))
    if event in _METRICS:
        session.info.setdefault(_UNCOUNTED, []).append((event, fields.get("detail")))


def record_alone(session: Session, event: Event, **fields: Unpack[EventFields]) -> None:
    """Record an event in a transaction of its own (for actions that have none, or were rolled back)."""
    with transaction(session, write=True):
        record(session, event, **fields)


# A statement (and its parameters) committed together with a grouped event: what the event records, written in
# the same transaction (the SMS ledger's row of a sent code).
Companion = tuple[sa.Executable, dict[str, object]]


def _insert_all(
    session: Session, rows: list[dict[str, object]], companions: list[Companion] | None = None
) -> None:
    with transaction(session, write=True):
        session.execute(_INSERT_EVENT, rows)
        for statement, parameters in companions or ():
            session.execute(statement, parameters)


class _GroupCommit:
    """Events recorded by concurrent callers on one event loop, written together: while one batch is being
    written (in a worker thread), the next one queues."""

    def __init__(self) -> None:
        self.queued: list[tuple[dict[str, object], Companion | None, asyncio.Future[None]]] = []
        self.writer: asyncio.Task[None] | None = None

    async def write(self, row: dict[str, object], companion: Companion | None) -> None:
        done = asyncio.get_running_loop().create_future()
        self.queued.append((row, companion, done))
        if self.writer is None:
            self.writer = asyncio.create_task(self._write_batches())
        await done

    async def _write_batches(self) -> None:
        try:
            while self.queued:
                batch, self.queued = self.queued, []
                try:
                    companions = [companion for _, companion, _ in batch if companion is not None]
                    await run_with_session(_insert_all, [row for row, _, _ in batch], companions)
                except Exception as exc:
                    for _, _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                except BaseException:  # cancelled (the loop is closing): the batch's callers are too
                    for _, _, done in batch:
                        done.cancel()
                    raise
                else:
                    for _, _, done in batch:
                        if not done.done():
                            done.set_result(None)
        finally:
            self.writer = None


_group_commits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _GroupCommit] = weakref.WeakKeyDictionary()


async def record_grouped(
    event: Event, *, companion: Companion | None = None, **fields: Unpack[EventFields]
) -> None:
    """Record an event in a transaction of its own, like `record_alone`, from async code, returning once it is
    committed (with `companion`, a statement of the caller's, in the same transaction). The events of concurrent
    callers are group-committed: those queued while a batch is being written go together in the next one (all
    or none), so a burst of them costs a few write transactions, not one each. Each row keeps the moment it was
    recorded. A failed batch fails every caller in it."""
    loop = asyncio.get_running_loop()
    group = _group_commits.get(loop)
    if group is None:
        group = _group_commits[loop] = _GroupCommit()
    await group.write(_row(event, fields), companion)
    _count(event, fields.get("detail"))


# Who a refusal was for: phone, user id and client address.
_Source = tuple[str | None, int | None, str | None]


@dataclass
class _Spread:
    """Refusals of one kind from more sources than are counted one by one: how many, the first one's source,
    and how many distinct phones, users and addresses they came with (kept as hashes, each counted up to
    REFUSAL_DISTINCT_COUNTED_MAX, so a flood of distinct phones costs bounded memory)."""

    count: int = 0
    first: _Source = (None, None, None)
    seen: tuple[set[int], set[int], set[int]] = field(default_factory=lambda: (set(), set(), set()))

    def add(self, source: _Source) -> None:
        if not self.count:
            self.first = source
        self.count += 1
        for hashes, value in zip(self.seen, source, strict=True):
            if len(hashes) < REFUSAL_DISTINCT_COUNTED_MAX:
                hashes.add(hash(value))

    def fields(self, detail: str | None) -> EventFields:
        """One row for them all: a phone, user or address only when every one of them had it; the detail
        counts the distinct values of the others (`phone_locked x2000 (1,950 phones, 2,000 addresses)`)."""
        phone, user_id, client_ip = (
            value if len(hashes) == 1 else None for hashes, value in zip(self.seen, self.first, strict=True)
        )
        spread = [
            f"{len(hashes):,}{'+' if len(hashes) >= REFUSAL_DISTINCT_COUNTED_MAX else ''} {noun}"
            for hashes, noun in zip(self.seen, ("phones", "users", "addresses"), strict=True)
            if len(hashes) > 1
        ]
        suffix = f" ({', '.join(spread)})" if spread else ""
        return {
            "phone": cast("str | None", phone),
            "user_id": cast("int | None", user_id),
            "client_ip": cast("str | None", client_ip),
            "detail": f"{detail} x{self.count}{suffix}",
        }


@dataclass
class _RefusalKind:
    """One kind of refusal (event and detail) seen by this process: when its last rows were written, and the
    refusals counted since, per source (phone, user, address) for the first REFUSAL_SOURCES_PER_KIND sources,
    together beyond them."""

    last_row_at: datetime
    pending: int = 0
    per_source: dict[_Source, int] = field(default_factory=dict)
    spread: _Spread = field(default_factory=_Spread)

    def count(self, source: _Source) -> None:
        self.pending += 1
        if source in self.per_source or len(self.per_source) < REFUSAL_SOURCES_PER_KIND:
            self.per_source[source] = self.per_source.get(source, 0) + 1
        else:
            self.spread.add(source)

    def take_rows(self, event: Event, detail: str | None, now: datetime) -> list[dict[str, object]]:
        """The rows for the refusals counted (one per source, and one for the spread), the count restarted."""
        rows = [
            _row(event, {"phone": phone, "user_id": user_id, "client_ip": client_ip, "detail": f"{detail} x{n}"})
            for (phone, user_id, client_ip), n in self.per_source.items()
        ]
        if self.spread.count:
            rows.append(_row(event, self.spread.fields(detail)))
        self.pending, self.per_source, self.spread, self.last_row_at = 0, {}, _Spread(), now
        return rows


_REFUSAL_AUDIT_INTERVAL = timedelta(seconds=REFUSAL_AUDIT_INTERVAL_SECONDS)

# Refusals seen by this process, per (event, detail): see record_refusal.
_refusals: dict[tuple[Event, str | None], _RefusalKind] = {}
_refusals_lock = threading.Lock()


def record_refusal(session: Session, event: Event, **fields: Unpack[EventFields]) -> None:
    """Audit a refusal without a write per request: the first of its kind (event and detail) in this process is
    written at once; after that a kind gets rows only once REFUSALS_PER_AUDIT_ROW more have been counted AND
    REFUSAL_AUDIT_INTERVAL_SECONDS have passed since its last ones. Then one write transaction adds a row per
    source (phone, user, address) saying how many refusals it had (`phone_locked x10`), for the first
    REFUSAL_SOURCES_PER_KIND sources; refusals from further ones share one row that names a phone or address
    only when all of them had it, and counts the others (`phone_locked x2000 (1,950 phones)`). No row claims a
    refusal for a phone that did not have it. So a flood costs one write per kind per interval, whatever its
    rate or spread. Counts live in the process: `flush_refusals` writes what is pending when the server stops
    (a process that dies loses them)."""
    if (due := _refusals_due(event, fields)) is not None:
        _insert_all(session, due)


async def record_refusal_soon(event: Event, **fields: Unpack[EventFields]) -> None:
    """record_refusal from async code: only a refusal whose rows are due goes to a worker thread and the
    database; the others are counted on the event loop."""
    if (due := _refusals_due(event, fields)) is not None:
        await run_with_session(_insert_all, due)


def _refusals_due(event: Event, fields: EventFields) -> list[dict[str, object]] | None:
    """Count the refusal (in the metrics, every one); the rows to write now, or None while its kind's batch
    fills."""
    _count(event, fields.get("detail"))
    key = (event, fields.get("detail"))
    source = (fields.get("phone"), fields.get("user_id"), fields.get("client_ip"))
    now = utcnow()
    with _refusals_lock:
        kind = _refusals.get(key)
        if kind is None:
            _refusals[key] = _RefusalKind(last_row_at=now)
            return [_row(event, fields)]
        kind.count(source)
        since = now - kind.last_row_at
        # A clock set back (since < 0) does not hold the rows back until it catches up.
        if kind.pending < REFUSALS_PER_AUDIT_ROW or timedelta(0) <= since < _REFUSAL_AUDIT_INTERVAL:
            return None
        return kind.take_rows(event, key[1], now)


def flush_refusals(session: Session) -> int:
    """Write the refusals counted and not yet written (rows per kind as record_refusal writes them), all in one
    write transaction; returns the rows. The server calls it when it stops (lifespan.py). The counts are taken
    before the write: if it fails, they are lost, as due rows' are."""
    now = utcnow()
    with _refusals_lock:
        rows = [
            row
            for (event, detail), kind in _refusals.items()
            if kind.pending
            for row in kind.take_rows(event, detail, now)
        ]
    if rows:
        _insert_all(session, rows)
    return len(rows)


def forget_refusals() -> None:
    """Start counting refusals afresh (tests)."""
    with _refusals_lock:
        _refusals.clear()


@contextlib.contextmanager
def refusals_recorded(
    session: Session,
    refusal: type[E] | tuple[type[E], ...],
    event: Event,
    *,
    detail: Callable[[E], str | None],
    sampled: bool = False,
    phone: str | None = None,
    user_id: int | None = None,
    client_ip: str | None = None,
) -> Iterator[None]:
    """Refuse, audit, raise: when the block raises `refusal` (its transaction already rolled back), the
    refusal is recorded as `event` on its own — one row each, or `sampled` by record_refusal — and the
    error goes on to the caller."""
    try:
        yield
    except refusal as refused:
        write = record_refusal if sampled else record_alone
        write(session, event, phone=phone, user_id=user_id, client_ip=client_ip, detail=detail(refused))
        raise


def mask_phone_events(session: Session, *, phone: str) -> int:
    """In the caller's transaction, mask `phone` on every event that names it (a deleted account: the trail
    keeps what happened, not whose number it was). The one UPDATE the audit table allows. Returns the rows."""
    masked = update(AuditEvent).where(col(AuditEvent.phone) == phone).values(phone=mask_phone(phone))
    return rowcount(session.exec(masked))


class RetentionTooShort(ValueError):
    def __init__(self, days: int) -> None:
        super().__init__(f"events younger than {AUDIT_RETENTION_MIN_DAYS} days are kept (asked for {days})")


def retention_cutoff(*, older_than_days: int) -> datetime:
    """The `removed_before` of a purge keeping the last `older_than_days` days, never fewer than the minimum."""
    if older_than_days < AUDIT_RETENTION_MIN_DAYS:
        raise RetentionTooShort(older_than_days)
    return utcnow() - timedelta(days=older_than_days)


@dataclass(frozen=True)
class PurgeRun:
    id: int
    removed_before: datetime
    removed: int
    removed_by_event: dict[str, int]


def purge(session: Session, *, before: datetime, reason: str) -> PurgeRun:
    """Remove the events created before `before`, recorded in audit_purges: the run is inserted (which the
    database requires before it lets a row go), the rows counted per event kind and deleted, and the run
    finished with those counts, all in one transaction. Callers choose `before` with retention_cutoff."""
    with transaction(session, write=True):
        run = AuditPurge(started_at=utcnow(), removed_before=before, reason=reason)
        session.add(run)
        session.flush()
        older = col(AuditEvent.created_at) < before
        per_event = select(AuditEvent.event, func.count()).where(older).group_by(col(AuditEvent.event))
        counts = {event: int(count) for event, count in session.exec(per_event).all()}
        removed = rowcount(session.exec(delete(AuditEvent).where(older)))
        run.finished_at = utcnow()
        run.removed = removed
        run.removed_by_event = json.dumps(counts, sort_keys=True)
        assert run.id is not None
        result = PurgeRun(id=run.id, removed_before=before, removed=removed, removed_by_event=counts)
    log.info("audit purge %d removed %d events created before %s (%s)", result.id, removed, before, reason)
    return result

"""Webhooks as the Standard Webhooks spec says: events written to an outbox in the transaction of the change they
report (`enqueue`), and delivered from there by a worker in every server process (`deliver_forever`).

- Never lost: the message exists exactly when the change does; a delivery is taken by one worker at a time
  (`FOR UPDATE SKIP LOCKED` on PostgreSQL, SQLite's single writer), which first moves its due time past the
  request's timeout, so a worker that dies mid-send leaves it to be taken again. Receivers see a repeat only
  then, with the same `webhook-id`.
- Retries on the spec's schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h after the first try), each delay
  stretched by up to a fifth at random so that endpoints that failed together are not retried together, never
  sooner than a `Retry-After` asks; then the delivery has failed. 410 Gone disables the endpoint.
- Safe: the host is resolved first and every address it has must be public (unless WEBHOOK_ALLOW_PRIVATE), and
  the request goes to that checked address (the name is not looked up again, so a second answer cannot point it
  elsewhere); redirects are not followed; the answer is read up to a limit; every request has a timeout.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import ipaddress
import json
import logging
import random
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import httpx
import sqlalchemy as sa
import standardwebhooks
from sqlmodel import Session, col, select

from referral_app.core.clock import utcnow
from referral_app.core.config import Settings, get_settings
from referral_app.core.db import InsertUnlessPresent, rowcount, session_scope, transaction
from referral_app.core.net import IPAddress
from referral_app.limits import (
    AUDIT_DETAIL_MAX_LENGTH,
    WEBHOOK_CLAIM_BATCH,
    WEBHOOK_ERROR_MAX_LENGTH,
    WEBHOOK_RESPONSE_READ_MAX_BYTES,
)
from referral_app.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookMessage
from referral_app.services import audit
from referral_app.services.bridge import run_with_session

log = logging.getLogger(__name__)


class EventType(StrEnum):
    USER_CREATED = "user.created"  # data: user_id
    REFERRAL_ACTIVATED = "referral.activated"  # data: user_id (who activated), referrer_id, invite_code
    USER_DELETED = "user.deleted"  # data: user_id
    SMS_UNDELIVERED = "sms.undelivered"  # data: sms_message_id, provider, status (undelivered or failed), user_id


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # the schedule ran out
    DISABLED = "disabled"  # the endpoint answered 410 Gone (this delivery, or one before it)


# Seconds to wait after the first, second, ... failed attempt; after the last one the delivery has failed.
RETRY_DELAYS_SECONDS = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
RETRY_JITTER = 0.2  # a delay is stretched by up to this share of itself
RETRY_AFTER_MAX_SECONDS = 24 * 3600  # a longer Retry-After is read as this
POLL_SECONDS = 1.0  # how often an idle worker looks for due deliveries

_messages = cast("sa.Table", sa.inspect(WebhookMessage).local_table)
_deliveries = cast("sa.Table", sa.inspect(WebhookDelivery).local_table)
_INSERT_MESSAGE = sa.insert(_messages).returning(_messages.c.id)
_INSERT_DELIVERY = sa.insert(_deliveries)
_INSERT_ENDPOINT = InsertUnlessPresent(cast("sa.Table", sa.inspect(WebhookEndpoint).local_table))


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds") + "Z"


def enqueue(session: Session, event_type: EventType, data: dict[str, Any]) -> None:
    """Inside the caller's write transaction: the event, for every configured endpoint (nothing without one)."""
    endpoints = get_settings().webhook_urls
    if not endpoints:
        return
    now = utcnow()
    payload = json.dumps({"type": event_type.value, "timestamp": _iso(now), "data": data}, separators=(",", ":"))
    message_id = session.execute(
        _INSERT_MESSAGE,
        {
            "msg_id": f"msg_{uuid.uuid4().hex}",
            "event_type": event_type.value,
            "payload": payload,
            "created_at": now,
        },
    ).scalar_one()
    session.execute(
        _INSERT_DELIVERY,
        [
            {
                "message_id": message_id,
                "endpoint": url,
                "state": DeliveryState.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for url in endpoints
        ],
    )


def pending_count() -> int:
    """Deliveries waiting to be sent (the metrics' queue depth), read in a session of its own."""
    with session_scope() as session, transaction(session):
        counted: int = session.execute(
            sa.select(sa.func.count())
            .select_from(WebhookDelivery)
            .where(col(WebhookDelivery.state) == DeliveryState.PENDING.value)
        ).scalar_one()
    return counted


# --- Taking due deliveries, and recording how an attempt went -------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    endpoint: str
    msg_id: str
    payload: str
    attempts: int  # made before this one


@dataclass(frozen=True)
class Outcome:
    status_code: int | None = None
    response_bytes: int | None = None
    error: str | None = None  # why there was no answer
    retry_after: float | None = None  # seconds, from the answer's Retry-After

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def lease_seconds(settings: Settings) -> float:
    """How long a taken delivery is left to its worker: past the request's whole timeout, with room to record."""
    return 2 * settings.webhook_timeout_seconds + 30


def _due(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        col(WebhookDelivery.state) == DeliveryState.PENDING.value, col(WebhookDelivery.next_attempt_at) <= now
    )


def claim_due(session: Session, *, limit: int = WEBHOOK_CLAIM_BATCH) -> list[Claimed]:
    """Take up to `limit` due deliveries for this worker; a delivery to a disabled endpoint is closed instead.
    A read first, so an idle poll never waits for (or holds) SQLite's one write lock."""
    now = utcnow()
    with transaction(session):
        if session.execute(sa.select(col(WebhookDelivery.id)).where(_due(now)).limit(1)).first() is None:
            return []
    with transaction(session, write=True):
        rows = session.execute(
            sa.select(
                col(WebhookDelivery.id),
                col(WebhookDelivery.endpoint),
                col(WebhookDelivery.attempts),
                col(WebhookDelivery.message_id),
            )
            .where(_due(now))
            .order_by(col(WebhookDelivery.next_attempt_at))
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        if not rows:
            return []
        disabled = set(
            session.exec(
                select(WebhookEndpoint.url).where(
                    col(WebhookEndpoint.url).in_({row.endpoint for row in rows}),
                    col(WebhookEndpoint.disabled_at).is_not(None),
                )
            ).all()
        )
        closed = [row.id for row in rows if row.endpoint in disabled]
        taken = [row for row in rows if row.endpoint not in disabled]
        if closed:
            session.execute(
                sa.update(WebhookDelivery)
                .where(col(WebhookDelivery.id).in_(closed))
                .values(state=DeliveryState.DISABLED.value, finished_at=now)
            )
        if not taken:
            return []
        session.execute(
            sa.update(WebhookDelivery)
            .where(col(WebhookDelivery.id).in_([row.id for row in taken]))
            .values(next_attempt_at=now + timedelta(seconds=lease_seconds(get_settings())))
        )
        messages = {
            message.id: message
            for message in session.execute(
                sa.select(col(WebhookMessage.id), col(WebhookMessage.msg_id), col(WebhookMessage.payload)).where(
                    col(WebhookMessage.id).in_({row.message_id for row in taken})
                )
            ).all()
        }
        return [
            Claimed(
                row.id,
                row.endpoint,
                messages[row.message_id].msg_id,
                messages[row.message_id].payload,
                row.attempts,
            )
            for row in taken
        ]


def retry_delay(failed_attempts: int, retry_after: float | None = None) -> float | None:
    """Seconds until the next attempt after `failed_attempts` failures, or None when the schedule has run out."""
    if failed_attempts > len(RETRY_DELAYS_SECONDS):
        return None
    base = RETRY_DELAYS_SECONDS[failed_attempts - 1]
    delay = base * (1 + random.uniform(0, RETRY_JITTER))  # noqa: S311  (spreading retries, not a secret)
    return max(delay, min(retry_after or 0, RETRY_AFTER_MAX_SECONDS))


def record_attempt(session: Session, *, claimed: Claimed, outcome: Outcome) -> DeliveryState:
    """Keep the attempt and move the delivery on: delivered, disabled (410), retried later, or failed."""
    now = utcnow()
    attempts = claimed.attempts + 1
    with transaction(session, write=True):
        session.add(
            WebhookAttempt(
                delivery_id=claimed.delivery_id,
                attempted_at=now,
                status_code=outcome.status_code,
                response_bytes=outcome.response_bytes,
                error=outcome.error[:WEBHOOK_ERROR_MAX_LENGTH] if outcome.error else None,
            )
        )
        values: dict[str, Any] = {"attempts": attempts}
        if outcome.delivered:
            state = DeliveryState.DELIVERED
        elif outcome.status_code == 410:
            state = DeliveryState.DISABLED
            _disable_endpoint(session, claimed.endpoint, now, reason="410 Gone")
        elif (delay := retry_delay(attempts, outcome.retry_after)) is None:
            state = DeliveryState.FAILED
        else:
            state = DeliveryState.PENDING
            values["next_attempt_at"] = now + timedelta(seconds=delay)
        if state is not DeliveryState.PENDING:
            values["finished_at"] = now
        session.execute(
            sa.update(WebhookDelivery)
            .where(
                col(WebhookDelivery.id) == claimed.delivery_id,
                col(WebhookDelivery.state) == DeliveryState.PENDING.value,
            )
            .values(state=state.value, **values)
        )
    if state is DeliveryState.DISABLED:
        log.warning("webhook endpoint %s answered 410 Gone: disabled", claimed.endpoint)
    elif state is DeliveryState.FAILED:
        log.warning("webhook delivery %s to %s failed for good", claimed.delivery_id, claimed.endpoint)
    return state


def _disable_endpoint(session: Session, url: str, now: datetime, *, reason: str) -> None:
    _INSERT_ENDPOINT.execute(session, {"url": url})
    session.execute(
        sa.update(WebhookEndpoint)
        .where(col(WebhookEndpoint.url) == url)
        .values(disabled_at=now, disabled_reason=reason)
    )


# --- Operators: listing, replaying, enabling again --------------------------------------------------------------


@dataclass(frozen=True)
class AttemptView:
    attempted_at: datetime
    status_code: int | None
    response_bytes: int | None
    error: str | None


@dataclass(frozen=True)
class DeliveryView:
    id: int
    msg_id: str
    event_type: str
    endpoint: str
    state: str
    attempts: int
    next_attempt_at: datetime | None  # None once finished
    created_at: datetime
    finished_at: datetime | None
    history: list[AttemptView]


class WebhookError(Exception):
    """An operator's request that cannot be done (the CLI prints it)."""


def list_deliveries(
    session: Session, *, state: str | None = None, limit: int = 50, delivery_id: int | None = None
) -> list[DeliveryView]:
    """The newest deliveries (or one), each with every attempt made."""
    query = (
        sa.select(WebhookDelivery, col(WebhookMessage.msg_id), col(WebhookMessage.event_type))
        .join(WebhookMessage, col(WebhookMessage.id) == col(WebhookDelivery.message_id))
        .order_by(col(WebhookDelivery.id).desc())
        .limit(limit)
    )
    if state is not None:
        query = query.where(col(WebhookDelivery.state) == state)
    if delivery_id is not None:
        query = query.where(col(WebhookDelivery.id) == delivery_id)
    with transaction(session):
        rows = session.execute(query).all()
        attempts = session.exec(
            select(WebhookAttempt)
            .where(col(WebhookAttempt.delivery_id).in_([row[0].id for row in rows]))
            .order_by(col(WebhookAttempt.id))
        ).all()
    history: dict[int, list[AttemptView]] = {}
    for attempt in attempts:
        history.setdefault(attempt.delivery_id, []).append(
            AttemptView(attempt.attempted_at, attempt.status_code, attempt.response_bytes, attempt.error)
        )
    views = []
    for delivery, msg_id, event_type in rows:
        assert delivery.id is not None
        pending = delivery.state == DeliveryState.PENDING.value
        views.append(
            DeliveryView(
                id=delivery.id,
                msg_id=msg_id,
                event_type=event_type,
                endpoint=delivery.endpoint,
                state=delivery.state,
                attempts=delivery.attempts,
                next_attempt_at=delivery.next_attempt_at if pending else None,
                created_at=delivery.created_at,
                finished_at=delivery.finished_at,
                history=history.get(delivery.id, []),
            )
        )
    return views


def _operator_detail(subject: str, operator: str, reason: str) -> str:
    return f"{subject} by {operator}: {reason}"[:AUDIT_DETAIL_MAX_LENGTH]


def replay(session: Session, *, delivery_id: int, operator: str, reason: str) -> int:
    """Send a delivery's message to its endpoint again, now, with the same `webhook-id` (receivers that saw it
    already know it): a new delivery with a schedule of its own, audited with who asked and why. Returns its id."""
    now = utcnow()
    with transaction(session, write=True):
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            raise WebhookError(f"no webhook delivery {delivery_id}")
        endpoint = session.get(WebhookEndpoint, delivery.endpoint)
        if endpoint is not None and endpoint.disabled_at is not None:
            raise WebhookError(f"{delivery.endpoint} is disabled ({endpoint.disabled_reason}): enable it first")
        replayed = WebhookDelivery(message_id=delivery.message_id, endpoint=delivery.endpoint, next_attempt_at=now)
        session.add(replayed)
        session.flush()
        assert replayed.id is not None
        detail = _operator_detail(f"delivery {delivery_id} as {replayed.id}", operator, reason)
        audit.record(session, audit.Event.WEBHOOK_REPLAYED, detail=detail)
        return replayed.id


def enable_endpoint(session: Session, *, url: str, operator: str, reason: str) -> bool:
    """Deliver to an endpoint disabled by a 410 again (its closed deliveries stay closed: replay them), audited
    with who asked and why. Returns whether it was disabled."""
    with transaction(session, write=True):
        changed = session.execute(
            sa.update(WebhookEndpoint)
            .where(col(WebhookEndpoint.url) == url, col(WebhookEndpoint.disabled_at).is_not(None))
            .values(disabled_at=None, disabled_reason=None)
        )
        enabled = rowcount(changed) == 1
        if enabled:
            audit.record(
                session, audit.Event.WEBHOOK_ENABLED, detail=_operator_detail("endpoint", operator, reason)
            )
    if enabled:
        log.info("webhook endpoint %s enabled again by %s", url, operator)
    return enabled


# --- Sending ----------------------------------------------------------------------------------------------------


class AddressRefused(Exception):
    """The endpoint's host resolves to an address webhooks are not sent to."""


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


@dataclass(frozen=True)
class Target:
    url: str  # the endpoint's URL with the checked address in place of its host
    host_header: str
    server_name: str  # for TLS: the name the certificate must carry (SNI)


async def resolve_target(url: str, *, allow_private: bool) -> Target:
    """Resolve the endpoint's host once and check every address it has; the request then goes to the first."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise AddressRefused(f"cannot resolve {host}: {exc.strerror or exc}") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    refused = [str(a) for a in addresses if not is_public(a)]
    if not addresses or (refused and not allow_private):
        raise AddressRefused(f"{host} resolves to a non-public address ({', '.join(refused)})")
    chosen = addresses[0]
    netloc = f"[{chosen}]:{port}" if chosen.version == 6 else f"{chosen}:{port}"
    host_header = parts.netloc.rpartition("@")[2]
    return Target(urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), host_header, host)


def signature_headers(msg_id: str, payload: str, secrets: Sequence[str]) -> dict[str, str]:
    # The timestamp receivers check against their own clocks (5 minutes' tolerance) is the system's, not the
    # service clock that tests move.
    sent_at = datetime.now(UTC)
    signatures = " ".join(standardwebhooks.Webhook(secret).sign(msg_id, sent_at, payload) for secret in secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signatures,
    }


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds (RFC 9110: delay-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, (moment.astimezone(UTC).replace(tzinfo=None) - now).total_seconds())


async def send(client: httpx.AsyncClient, claimed: Claimed, settings: Settings) -> Outcome:
    """One attempt: the signed POST, its answer's status and size (read up to a limit), or why there was none."""
    try:
        target = await resolve_target(claimed.endpoint, allow_private=settings.webhook_allow_private)
    except AddressRefused as exc:
        return Outcome(error=f"refused: {exc}")
    parts = urlsplit(claimed.endpoint)
    headers = {
        "content-type": "application/json",
        "host": target.host_header,
        "user-agent": "referral_app-webhooks",
        **signature_headers(claimed.msg_id, claimed.payload, settings.webhook_secret),
    }
    if parts.username is not None:
        credentials = f"{parts.username}:{parts.password or ''}".encode()
        headers["authorization"] = "Basic " + base64.b64encode(credentials).decode()
    request = client.build_request(
        "POST",
        target.url,
        content=claimed.payload.encode(),
        headers=headers,
        extensions={"sni_hostname": target.server_name},
    )
    try:
        async with asyncio.timeout(settings.webhook_timeout_seconds):
            response = await client.send(request, stream=True)
            try:
                size = 0
                async for chunk in response.aiter_raw():
                    size += len(chunk)
                    if size >= WEBHOOK_RESPONSE_READ_MAX_BYTES:
                        break
            finally:
                await response.aclose()
    except (TimeoutError, httpx.TimeoutException):  # the whole exchange's limit, or one of its steps
        return Outcome(error="timeout")
    except httpx.HTTPError as exc:
        return Outcome(error=f"{type(exc).__name__}: {exc}")
    return Outcome(
        status_code=response.status_code,
        response_bytes=min(size, WEBHOOK_RESPONSE_READ_MAX_BYTES),
        retry_after=parse_retry_after(response.headers.get("retry-after"), utcnow()),
    )


def http_client(settings: Settings) -> httpx.AsyncClient:
    # No redirects (a 3xx is a failed attempt: following it would skip the address check), no proxies from the
    # environment (they would connect to the endpoint themselves), no cookies kept between endpoints.
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.webhook_timeout_seconds),
        follow_redirects=False,
        trust_env=False,
    )


async def deliver_one(client: httpx.AsyncClient, claimed: Claimed, settings: Settings) -> DeliveryState:
    outcome = await send(client, claimed, settings)
    return await run_with_session(record_attempt, claimed=claimed, outcome=outcome)


async def deliver_due(client: httpx.AsyncClient) -> int:
    """Take the due deliveries and make one attempt of each, at once. Returns how many were taken."""
    settings = get_settings()
    claimed = await run_with_session(claim_due)
    await asyncio.gather(*(deliver_one(client, item, settings) for item in claimed))
    return len(claimed)


async def deliver_forever() -> None:
    """The worker of one server process (a lifespan task): idle polls are one read; errors are logged, the
    worker carries on. Without WEBHOOK_URLS it does nothing."""
    settings = get_settings()
    if not settings.webhook_urls:
        return
    async with http_client(settings) as client:
        while True:
            try:
                taken = await deliver_due(client)
            except Exception:
                log.exception("delivering webhooks failed; trying again shortly")
                taken = 0
            if taken == 0:
                await asyncio.sleep(POLL_SECONDS)

"""Webhooks: written in the transaction of the change, delivered signed to a real local receiver over HTTP (checked
with the spec's reference library), retried on the spec's schedule under the test clock, disabled by 410, and never
sent to a private address unless allowed."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from referral_app.core import metrics
from referral_app.core.config import Settings
from referral_app.core.db import transaction
from referral_app.models import (
    AuditEvent,
    LoginCode,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)
from referral_app.services import account, auth, login_codes, referrals, users, webhooks
from tests.helpers import FakeClock, configure, shift_back
from tests.support.webhook_receiver import Receiver, running_receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NEW_SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
ANNA, BORIS = "+79123456789", "+79001112233"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver(SECRET) as r:
        yield r


def hooked(settings: Settings, *urls: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "webhook_urls": list(urls),
        "webhook_secret": [SECRET],
        "webhook_allow_private": True,
    }
    return configure(settings, **{**values, **overrides})


def deliver() -> int:
    async def run() -> int:
        async with webhooks.http_client(webhooks.get_settings()) as client:
            return await webhooks.deliver_due(client)

    return asyncio.run(run())


def login(session: Session, phone: str) -> auth.LoginResult:
    code = login_codes.issue_code(session, phone=phone, client_ip=None)
    result = auth.login_with_code(session, phone=phone, code=code)
    shift_back(session, LoginCode, 61, "created_at")
    return result


def new_user(session: Session, phone: str) -> int:
    with transaction(session, write=True):
        user, created = users.get_or_create_user(session, phone=phone)
    assert created and user.id is not None
    return user.id


def deliveries(session: Session) -> list[WebhookDelivery]:
    session.rollback()
    return list(session.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.id))).all())


def attempts(session: Session) -> list[WebhookAttempt]:
    session.rollback()
    return list(session.exec(select(WebhookAttempt).order_by(col(WebhookAttempt.id))).all())


def test_every_event_arrives_signed_with_a_thin_payload(
    session: Session, settings: Settings, receiver: Receiver
) -> None:
    with running_receiver(SECRET) as second:
        hooked(settings, receiver.url, second.url)
        anna, boris = login(session, ANNA), login(session, BORIS)
        code = users.get_profile(session, user_id=anna.user_id).invite_code
        referrals.activate_invite(session, user_id=boris.user_id, invite_code=code)
        account.delete_account(
            session, token=boris.access_token, code=login_codes.issue_code(session, phone=BORIS, client_ip=None)
        )

        assert deliver() == 8  # four events, two endpoints
        for endpoint in (receiver, second):
            payloads = endpoint.verified()
            # Due deliveries are sent at once, so in no particular order.
            assert sorted((p["type"], json.dumps(p["data"], sort_keys=True)) for p in payloads) == sorted(
                (kind, json.dumps(data, sort_keys=True))
                for kind, data in [
                    ("user.created", {"user_id": anna.user_id}),
                    ("user.created", {"user_id": boris.user_id}),
                    (
                        "referral.activated",
                        {"user_id": boris.user_id, "referrer_id": anna.user_id, "invite_code": code},
                    ),
                    ("user.deleted", {"user_id": boris.user_id}),
                ]
            )
            assert all(p["timestamp"].endswith("Z") and set(p) == {"type", "timestamp", "data"} for p in payloads)
            assert {r.headers["content-type"] for r in endpoint.requests} == {"application/json"}
        # The same webhook-id at every endpoint, a different one per event.
        assert sorted(r.headers["webhook-id"] for r in receiver.requests) == sorted(
            r.headers["webhook-id"] for r in second.requests
        )
        assert len({r.headers["webhook-id"] for r in receiver.requests}) == 4
    assert {d.state for d in deliveries(session)} == {"delivered"}
    assert [(a.status_code, a.response_bytes, a.error) for a in attempts(session)] == [
        (204, 0, None)
    ] * 8  # a 204 has no body
    assert deliver() == 0  # nothing is sent twice


def test_nothing_is_written_without_endpoints_or_when_the_change_is_rolled_back(
    session: Session, settings: Settings
) -> None:
    new_user(session, ANNA)
    assert session.exec(select(WebhookMessage)).all() == []
    hooked(settings, "https://hooks.example.com/in")
    with pytest.raises(RuntimeError), transaction(session, write=True):
        users.get_or_create_user(session, phone=BORIS)
        raise RuntimeError("the change fails after the user was inserted")
    assert session.exec(select(WebhookMessage)).all() == []
    new_user(session, BORIS)
    assert [m.event_type for m in session.exec(select(WebhookMessage)).all()] == ["user.created"]


def test_a_rotation_signs_with_every_secret(session: Session, settings: Settings) -> None:
    with running_receiver(SECRET) as old, running_receiver(NEW_SECRET) as new:
        hooked(settings, old.url, new.url, webhook_secret=[SECRET, NEW_SECRET])
        new_user(session, ANNA)
        assert deliver() == 2
        assert len(old.verified()) == len(new.verified()) == 1  # each receiver knows one of the two secrets
        assert len(old.requests[0].headers["webhook-signature"].split(" ")) == 2
    with running_receiver(NEW_SECRET) as other:  # a signature by a secret it does not know is refused
        hooked(settings, other.url)
        new_user(session, BORIS)
        deliver()
        assert isinstance(other.requests[0].verified, Exception)


def test_retries_follow_the_schedule_then_give_up(
    session: Session, settings: Settings, receiver: Receiver, clock: FakeClock
) -> None:
    hooked(settings, receiver.url)
    receiver.default = (500, {}, 0.0)
    new_user(session, ANNA)
    started = clock.now
    assert deliver() == 1
    waited = 0.0
    for n, delay in enumerate(webhooks.RETRY_DELAYS_SECONDS, start=1):
        due = deliveries(session)[0].next_attempt_at
        # Jitter stretches each delay by up to a fifth, never shortens it.
        assert timedelta(seconds=delay) <= due - clock.now <= timedelta(seconds=delay * 1.2)
        clock.advance((due - clock.now).total_seconds() - 1)
        assert deliver() == 0 and len(receiver.requests) == n  # not a second early
        clock.advance(1)
        assert deliver() == 1 and len(receiver.requests) == n + 1
        waited += delay
    delivery = deliveries(session)[0]
    assert (delivery.state, delivery.attempts) == ("failed", 8)
    assert timedelta(hours=27) < clock.now - started < timedelta(hours=34)  # about a day
    history = attempts(session)
    assert [(a.status_code, a.response_bytes) for a in history] == [(500, 12)] * 8
    assert [a.attempted_at for a in history] == sorted(a.attempted_at for a in history)
    clock.advance(10 * 24 * 3600)
    assert deliver() == 0 and len(receiver.requests) == 8


def test_retry_after_is_honoured(
    session: Session, settings: Settings, receiver: Receiver, clock: FakeClock
) -> None:
    hooked(settings, receiver.url)
    receiver.answers.extend([(503, {"Retry-After": "3600"}, 0.0), (429, {"Retry-After": "1"}, 0.0)])
    new_user(session, ANNA)
    deliver()
    assert deliveries(session)[0].next_attempt_at - clock.now == timedelta(seconds=3600)
    clock.advance(3600)
    deliver()
    # A shorter Retry-After never brings the schedule's retry forward.
    assert deliveries(session)[0].next_attempt_at - clock.now >= timedelta(seconds=300)
    assert webhooks.parse_retry_after("Wed, 21 Oct 2099 07:28:00 GMT", clock.now) > 0
    assert webhooks.parse_retry_after("soon", clock.now) is None


def test_410_disables_the_endpoint_until_an_operator_enables_it(
    session: Session, settings: Settings, receiver: Receiver
) -> None:
    with running_receiver(SECRET) as healthy:
        hooked(settings, receiver.url, healthy.url)
        receiver.default = (410, {}, 0.0)
        new_user(session, ANNA)
        deliver()
        new_user(session, BORIS)
        deliver()
        assert (
            len(receiver.requests) == 1 and len(healthy.requests) == 2
        )  # the second went only to the healthy one
    states = [(d.endpoint == receiver.url, d.state) for d in deliveries(session)]
    assert sorted(states) == [(False, "delivered"), (False, "delivered"), (True, "disabled"), (True, "disabled")]
    gone = session.get(WebhookEndpoint, receiver.url)
    assert gone is not None and gone.disabled_at is not None and gone.disabled_reason == "410 Gone"
    first = next(d for d in deliveries(session) if d.endpoint == receiver.url)
    with pytest.raises(webhooks.WebhookError, match="disabled"):
        webhooks.replay(session, delivery_id=first.id or 0, operator="ops", reason="receiver fixed")

    assert webhooks.enable_endpoint(session, url=receiver.url, operator="ops", reason="moved back")
    assert not webhooks.enable_endpoint(session, url=receiver.url, operator="ops", reason="moved back")
    receiver.default = (200, {}, 0.0)
    replayed = webhooks.replay(session, delivery_id=first.id or 0, operator="ops", reason="receiver fixed")
    assert deliver() == 1
    assert receiver.requests[-1].headers["webhook-id"] == receiver.requests[0].headers["webhook-id"]
    [view] = webhooks.list_deliveries(session, delivery_id=replayed)
    assert (view.state, view.attempts, [a.status_code for a in view.history]) == ("delivered", 1, [200])
    events = session.exec(select(AuditEvent.event, AuditEvent.detail).order_by(col(AuditEvent.id))).all()
    assert [e for e in events if e[0].startswith("webhook_")] == [
        ("webhook_enabled", "endpoint by ops: moved back"),
        ("webhook_replayed", f"delivery {first.id} as {replayed} by ops: receiver fixed"),
    ]
    with pytest.raises(webhooks.WebhookError, match="no webhook delivery"):
        webhooks.replay(session, delivery_id=10_000, operator="ops", reason="typo")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_private_address_is_refused_after_resolution(
    session: Session, settings: Settings, receiver: Receiver, host: str
) -> None:
    hooked(settings, receiver.url.replace("127.0.0.1", host), webhook_allow_private=False)
    new_user(session, ANNA)
    assert deliver() == 1
    assert receiver.requests == []
    [attempt] = attempts(session)
    assert attempt.status_code is None and attempt.error is not None
    assert attempt.error.startswith(f"refused: {host} resolves to a non-public address")
    assert deliveries(session)[0].state == "pending"  # retried on the schedule, as any failure


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata (link-local)
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:10.0.0.1", False),
        ("224.0.0.1", False),
        ("93.184.215.14", True),
        ("2606:4700::1111", True),
    ],
)
def test_only_public_addresses_count_as_public(address: str, public: bool) -> None:
    assert webhooks.is_public(ipaddress.ip_address(address)) is public


async def test_the_request_goes_to_the_checked_address_with_the_name_as_host() -> None:
    target = await webhooks.resolve_target("https://user:pw@localhost:8443/in?x=1", allow_private=True)
    assert target.url in ("https://127.0.0.1:8443/in?x=1", "https://[::1]:8443/in?x=1")
    assert (target.host_header, target.server_name) == ("localhost:8443", "localhost")
    with pytest.raises(webhooks.AddressRefused, match="cannot resolve"):
        await webhooks.resolve_target("http://no-such-host.invalid/", allow_private=True)


def test_a_slow_receiver_times_out_and_is_retried(
    session: Session, settings: Settings, receiver: Receiver
) -> None:
    hooked(settings, receiver.url, webhook_timeout_seconds=0.5)
    receiver.answers.append((204, {}, 3.0))
    new_user(session, ANNA)
    deliver()
    [attempt] = attempts(session)
    assert (attempt.status_code, attempt.error) == (None, "timeout")
    assert deliveries(session)[0].state == "pending"


def test_a_redirect_is_not_followed(session: Session, settings: Settings, receiver: Receiver) -> None:
    hooked(settings, receiver.url)
    receiver.answers.append((307, {"Location": "http://169.254.169.254/latest"}, 0.0))
    new_user(session, ANNA)
    deliver()
    assert len(receiver.requests) == 1
    assert [a.status_code for a in attempts(session)] == [307]
    assert deliveries(session)[0].state == "pending"


def test_a_worker_that_died_mid_send_leaves_the_delivery_to_be_taken_again(
    session: Session, settings: Settings, receiver: Receiver, clock: FakeClock
) -> None:
    hooked(settings, receiver.url)
    new_user(session, ANNA)
    [taken] = webhooks.claim_due(session)  # ... and the worker is gone before it sends
    assert webhooks.claim_due(session) == []  # nobody else takes it meanwhile
    clock.advance(webhooks.lease_seconds(settings) + 1)
    assert deliver() == 1
    assert [p["type"] for p in receiver.verified()] == ["user.created"]
    assert receiver.requests[0].headers["webhook-id"] == taken.msg_id


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # SQLite's one writer: workers take turns
def test_concurrent_workers_skip_what_another_holds(
    engine: sa.Engine, session: Session, settings: Settings
) -> None:
    """A delivery locked by one worker's transaction is skipped, not waited for, by another."""
    hooked(settings, "https://hooks.example.com/in")
    new_user(session, ANNA)
    new_user(session, BORIS)
    first, second = (d.id for d in deliveries(session))
    with Session(engine) as other, other.begin():
        other.execute(sa.select(WebhookDelivery.id).where(col(WebhookDelivery.id) == first).with_for_update())
        assert [c.delivery_id for c in webhooks.claim_due(session)] == [second]
    assert [c.delivery_id for c in webhooks.claim_due(session)] == [first]


def test_listing_shows_every_attempt(session: Session, settings: Settings, receiver: Receiver) -> None:
    hooked(settings, receiver.url)
    receiver.answers.append((500, {}, 0.0))
    new_user(session, ANNA)
    deliver()
    [view] = webhooks.list_deliveries(session, state="pending")
    assert (view.event_type, view.endpoint, view.attempts) == ("user.created", receiver.url, 1)
    assert [(a.status_code, a.response_bytes) for a in view.history] == [(500, 12)]
    assert view.next_attempt_at is not None
    assert webhooks.list_deliveries(session, state="delivered") == []


def test_the_cli_lists_replays_and_enables(session: Session, settings: Settings, receiver: Receiver) -> None:
    hooked(settings, receiver.url)
    receiver.answers.append((410, {}, 0.0))
    new_user(session, ANNA)
    deliver()
    env = {**os.environ, "DATABASE_URL": settings.database_url}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "referral_app.cli", *args], env=env, capture_output=True, text=True
        )

    listed = cli("webhook-deliveries", "--state", "disabled")
    assert listed.returncode == 0, listed.stderr
    [line] = [json.loads(text) for text in listed.stdout.splitlines()]
    assert (line["event_type"], line["endpoint"], line["state"]) == ("user.created", receiver.url, "disabled")
    assert [(a["status_code"], a["error"]) for a in line["history"]] == [(410, None)]
    refused = cli("webhook-replay", str(line["id"]), "--reason", "try again")
    assert refused.returncode == 2 and "enable it first" in refused.stderr
    assert cli("webhook-replay", str(line["id"])).returncode == 2  # a reason is required
    enabled = cli("webhook-enable", receiver.url, "--reason", "the receiver is back")
    assert enabled.returncode == 0, enabled.stderr
    assert cli("webhook-enable", receiver.url, "--reason", "again").returncode == 2
    replayed = cli("webhook-replay", str(line["id"]), "--reason", "missed while gone")
    assert replayed.returncode == 0, replayed.stderr
    assert deliver() == 1
    assert [r.headers["webhook-id"] for r in receiver.requests] == [line["msg_id"]] * 2
    assert [json.loads(text)["state"] for text in cli("webhook-deliveries").stdout.splitlines()] == [
        "delivered",
        "disabled",
    ]


def test_the_queue_depth_is_read_from_the_outbox_on_each_scrape(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    configure(
        settings,
        webhook_urls=["https://a.example.com/hook", "https://b.example.com/hook"],
        webhook_secret=[SECRET],
    )
    queue = metrics.ReadOnScrape("webhook_queue_depth", "pending deliveries", webhooks.pending_count)
    registry = metrics.workers_registry(tmp_path, queue)

    def depth() -> float | None:
        return registry.get_sample_value("referral_app_webhook_queue_depth")

    assert depth() == 0
    with transaction(session, write=True):
        webhooks.enqueue(session, webhooks.EventType.USER_CREATED, {"user_id": 1})
    assert depth() == 2  # one delivery per endpoint
    broken = metrics.ReadOnScrape("broken", "a read that fails", lambda: 1 / 0)
    assert list(broken.collect()) == []  # left out of that scrape, never a failed scrape

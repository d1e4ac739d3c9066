"""Webhooks survive `kill -9`: events written while no receiver listens, the whole server killed before it could
deliver them, then the receivers started and the server restarted on the same database: every event arrives at
every endpoint exactly once per webhook-id, signed (checked with the spec's reference library)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from referral_app.core.db import create_db_engine
from tests.helpers import api_login, bearer
from tests.resilience.conftest import postgres_database
from tests.support.ports import free_port
from tests.support.server import RunningServer, kill_hard
from tests.support.webhook_receiver import running_receiver

pytestmark = pytest.mark.server

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture(params=[pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql")])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hooks.db'}"
    else:
        with postgres_database() as url:
            yield url


def delivery_states(database_url: str) -> list[str]:
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text("SELECT state FROM webhook_deliveries ORDER BY id")).scalars())
    finally:
        engine.dispose()


async def test_events_written_before_a_kill_arrive_once_after_the_restart(
    servers: Callable[..., RunningServer], database_url: str
) -> None:
    ports = [free_port(), free_port()]  # nothing listens there yet
    urls = [f"http://127.0.0.1:{port}/hooks" for port in ports]
    env = {
        "DATABASE_URL": database_url,
        "WEBHOOK_URLS": ",".join(urls),
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_ALLOW_PRIVATE": "true",
        "SMS_DELAY_MIN": "0",
        "SMS_DELAY_MAX": "0",
    }
    server = servers(**env)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        anna = await api_login(http, "+79170000001")
        boris = await api_login(http, "+79170000002")
        activated = await http.post(
            "/api/v1/profile/invite",
            json={"invite_code": anna["user"]["invite_code"]},
            headers=bearer(boris["access_token"]),
        )
        assert activated.status_code == 200, activated.text
    kill_hard(server)
    assert delivery_states(database_url) == ["pending"] * 6  # three events, two endpoints, none delivered

    with running_receiver(SECRET, port=ports[0]) as first, running_receiver(SECRET, port=ports[1]) as second:
        servers(port=server.port, **env)
        for receiver in (first, second):
            receiver.wait_for(3, timeout=120)  # a first attempt refused before the kill is retried 5-6 s later
        for _ in range(300):  # each answer is marked delivered after the receiver has it; a bounded wait
            if (states := delivery_states(database_url)) == ["delivered"] * 6:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"deliveries never all marked delivered: {states}")
        for receiver in (first, second):
            payloads = receiver.verified()
            ids = [r.headers["webhook-id"] for r in receiver.requests]
            assert len(ids) == len(set(ids)) == 3
            assert sorted(p["type"] for p in payloads) == ["referral.activated", "user.created", "user.created"]
            assert {p["data"]["user_id"] for p in payloads} == {anna["user"]["id"], boris["user"]["id"]}
        assert sorted(r.headers["webhook-id"] for r in first.requests) == sorted(
            r.headers["webhook-id"] for r in second.requests
        )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_receiver_that_does_not_answer_never_holds_up_sign_in(
    servers: Callable[..., RunningServer], database_url: str
) -> None:
    """Proved by order: every sign-in below completes while the receiver still holds the first event's request."""
    gate = threading.Event()
    with running_receiver(SECRET, gate=gate) as receiver:
        server = servers(
            DATABASE_URL=database_url,
            WEBHOOK_URLS=receiver.url,
            WEBHOOK_SECRET=SECRET,
            WEBHOOK_ALLOW_PRIVATE="true",
            WEBHOOK_TIMEOUT_SECONDS="60",
            SMS_DELAY_MIN="0",
            SMS_DELAY_MAX="0",
        )
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            await api_login(http, "+79170000011")
            await asyncio.to_thread(receiver.wait_for, 1)  # the worker is now waiting for an answer
            for n in range(12, 17):
                await api_login(http, f"+791700000{n}")
            assert not gate.is_set() and len(receiver.requests) == 1
        gate.set()
        await asyncio.to_thread(receiver.wait_for, 6)
        assert sorted(p["type"] for p in receiver.verified()) == ["user.created"] * 6

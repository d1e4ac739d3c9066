"""/metrics of the production server (serve.py) with two worker processes on PostgreSQL and Redis: what the
scrape says is what the test did, summed over both workers. (A worker that dies is marked by the scrape:
tests/core/test_metrics.py; granian as Reflex starts it stops the whole server when a worker dies.)"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import multiprocess
from prometheus_client.parser import text_string_to_metric_families

from tests.resilience.conftest import postgres_database, require_redis
from tests.support.ports import free_port
from tests.support.procfs import children_of
from tests.support.production import start_production_server
from tests.support.reflex_socket import ReflexTab
from tests.support.server import RunningServer, stop_server

pytestmark = pytest.mark.server

PHONES = [f"+7916555{n:04d}" for n in range(12)]
LOCKED_PHONE = "+79165559999"
SENT = 2 * len(PHONES) + 1  # two codes for each, one for the phone that gets locked
PHONE_MAX_FAILURES = 3
WAIT_SECONDS = 30  # a timeout for what must happen, not a measurement


class Served:
    def __init__(self, server: RunningServer, metrics_port: int, metrics_dir: Path) -> None:
        self.server, self.metrics_url, self.metrics_dir = (
            server,
            f"http://127.0.0.1:{metrics_port}/metrics",
            metrics_dir,
        )

    def workers(self) -> list[int]:
        return sorted(children_of(self.server.process.pid))

    def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = httpx.get(self.metrics_url, timeout=10).text
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def served(built_project: Path, tmp_path: Path) -> Iterator[Served]:
    redis_url = require_redis()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"an earlier run's file")  # emptied on start
    metrics_port = free_port()
    with postgres_database() as database_url:
        server = start_production_server(
            built_project,
            tmp_path,
            DATABASE_URL=database_url,
            REFLEX_REDIS_URL=redis_url,
            GRANIAN_WORKERS="2",
            METRICS_PORT=str(metrics_port),
            PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
            PHONE_MAX_FAILURES=str(PHONE_MAX_FAILURES),
            CODE_RESEND_COOLDOWN_SECONDS="0",
            CODE_MAX_PER_PHONE_PER_HOUR="2",
            SMS_DELAY_MIN="0",
            SMS_DELAY_MAX="0",
        )
        try:
            yield Served(server, metrics_port, metrics_dir)
        finally:
            stop_server(server)


async def _post(client: httpx.AsyncClient, path: str, **body: str) -> httpx.Response:
    return await client.post(path, json=body)


async def _wait_until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(WAIT_SECONDS * 10):
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {WAIT_SECONDS} s: {what}")


def test_the_metrics_listener_is_off_by_default_and_on_loopback_when_on() -> None:
    from referral_app.core.config import Settings

    assert Settings().metrics_port is None
    assert Settings(metrics_port=9100).metrics_host == "127.0.0.1"


async def test_counts_match_what_was_done_across_two_workers(served: Served) -> None:
    assert not (served.metrics_dir / "counter_999999.db").exists()
    base = served.server.base_url
    clients = [httpx.AsyncClient(base_url=base, timeout=30) for _ in PHONES]  # a connection each: both workers
    try:

        async def send_all() -> list[httpx.Response]:
            return await asyncio.gather(*(_post(c, "/api/v1/auth/code", phone=p) for c, p in zip(clients, PHONES)))

        sent = await send_all()
        assert [r.status_code for r in sent] == [200] * len(PHONES)
        codes = {r.json()["phone"]: r.json()["debug_code"] for r in sent}
        tokens = []
        for client, phone in zip(clients, PHONES[:6]):
            wrong = "0000" if codes[phone] != "0000" else "1111"
            assert (await _post(client, "/api/v1/auth/token", phone=phone, code=wrong)).status_code == 400
            answer = await _post(client, "/api/v1/auth/token", phone=phone, code=codes[phone])
            assert answer.status_code == 200 and answer.json()["is_new_user"]
            tokens.append(answer.json()["access_token"])
        second = await send_all()
        assert [r.status_code for r in second] == [200] * len(PHONES)
        refused = await send_all()
        assert [r.status_code for r in refused] == [429] * len(PHONES)  # two codes an hour per phone
        # The first user signs in again: a sign-in, not a new user.
        again = await _post(clients[0], "/api/v1/auth/token", phone=PHONES[0], code=second[0].json()["debug_code"])
        assert again.status_code == 200 and not again.json()["is_new_user"]
        codes_seen = [*codes.values(), *(r.json()["debug_code"] for r in second)]

        # The first user activates the second one's invite code.
        invite = (await clients[1].get("/api/v1/profile", headers={"Authorization": f"Bearer {tokens[1]}"})).json()
        activated = await clients[0].post(
            "/api/v1/profile/invite",
            json={"invite_code": invite["invite_code"]},
            headers={"Authorization": f"Bearer {tokens[0]}"},
        )
        assert activated.status_code == 200

        # A phone locked by wrong guesses, then a guess refused unchecked.
        code = (await _post(clients[2], "/api/v1/auth/code", phone=LOCKED_PHONE)).json()["debug_code"]
        wrong = "0000" if code != "0000" else "1111"
        answers = [await _post(clients[2], "/api/v1/auth/token", phone=LOCKED_PHONE, code=wrong) for _ in range(3)]
        assert [a.json()["code"] for a in answers] == ["invalid_code", "invalid_code", "rate_limited"]
        refused = await _post(clients[3], "/api/v1/auth/token", phone=LOCKED_PHONE, code=code)
        assert refused.json()["code"] == "rate_limited"
    finally:
        for client in clients:
            await client.aclose()

    tabs = [ReflexTab(base) for _ in range(6)]
    try:
        for tab in tabs:
            await tab.connect()
            await tab.hydrate("/")
        samples = served.scrape()
        assert value(samples, "referral_app_websocket_tabs") == 6
        assert value(samples, "referral_app_websocket_connects_total") == 6

        assert value(samples, "referral_app_codes_sent_total") == SENT
        assert value(samples, "referral_app_codes_refused_total", reason="phone_hourly_limit") == len(PHONES)
        assert value(samples, "referral_app_verifications_total", result="success") == 7
        assert value(samples, "referral_app_verifications_total", result="invalid_code") == 6 + 2
        assert value(samples, "referral_app_verifications_total", result="rate_limited") == 1
        assert value(samples, "referral_app_verifications_total", result="phone_locked") == 1
        assert value(samples, "referral_app_phones_locked_total") == 1
        assert value(samples, "referral_app_sign_ins_total") == 7
        assert value(samples, "referral_app_new_users_total") == 6
        assert value(samples, "referral_app_invite_activations_total") == 1
        code_route = {"method": "POST", "route": "/api/v1/auth/code"}
        assert value(samples, "referral_app_http_requests_total", **code_route, status="200") == SENT
        assert value(samples, "referral_app_http_requests_total", **code_route, status="429") == len(PHONES)
        assert value(samples, "referral_app_http_request_duration_seconds_count", **code_route) == SENT + len(
            PHONES
        )
        invite_route = {"method": "POST", "route": "/api/v1/profile/invite", "status": "200"}
        assert value(samples, "referral_app_http_requests_total", **invite_route) == 1
        # No phone, user, code or raw path in any label.
        labels = " ".join(v for (_, pairs) in samples for _, v in pairs)
        for secret in [
            *PHONES,
            LOCKED_PHONE,
            *codes_seen,
            invite["invite_code"],
            "9999",
            "/api/v1/auth/sessions/",
        ]:
            assert secret not in labels

        # Both workers counted: each one's own files hold part of the codes sent.
        workers = served.workers()
        assert len(workers) == 2
        per_worker = []
        for pid in workers:
            files = [str(f) for f in served.metrics_dir.glob(f"*_{pid}.db")]
            merged = multiprocess.MultiProcessCollector.merge(files, accumulate=True)
            sent_here = sum(
                s.value for m in merged for s in m.samples if s.name == "referral_app_codes_sent_total"
            )
            per_worker.append(sent_here)
        assert all(n > 0 for n in per_worker) and sum(per_worker) == SENT

        # Tabs that close leave the gauge, on whichever worker they were.
        for tab in tabs[:4]:
            await tab.close()
        await _wait_until(
            lambda: value(served.scrape(), "referral_app_websocket_tabs") == 2, "2 tabs in the gauge"
        )
    finally:
        for tab in tabs:
            with contextlib.suppress(Exception):
                await tab.close()

"""The health check's database probe: at most one per window, one in flight for concurrent checks, failures
not remembered."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from referral_app.core.config import Settings
from referral_app.core.db import dispose_engines, get_engine
from referral_app.services.errors import ServiceUnavailable
from referral_app.services.health import check_database
from tests.helpers import configure


@pytest.fixture
def probes(settings: Settings) -> Iterator[list[str]]:
    """The probes the database saw (its SELECT 1 statements)."""
    seen: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement == "SELECT 1":
            seen.append(statement)

    engine = get_engine(settings)
    sa.event.listen(engine, "before_cursor_execute", count)
    yield seen
    sa.event.remove(engine, "before_cursor_execute", count)


async def test_checks_within_the_window_share_one_probe(settings: Settings, probes: list[str]) -> None:
    configure(settings, health_probe_cache_seconds=3600)
    for _ in range(5):
        await check_database()
    assert len(probes) == 1


async def test_concurrent_checks_wait_for_the_probe_in_flight(settings: Settings, probes: list[str]) -> None:
    configure(settings, health_probe_cache_seconds=0)  # nothing remembered: only the sharing saves probes
    await asyncio.gather(*(check_database() for _ in range(20)))
    assert len(probes) == 1
    await check_database()  # the window is 0: the next check probes again
    assert len(probes) == 2


async def test_a_cancelled_check_leaves_the_probe_to_the_others(settings: Settings, probes: list[str]) -> None:
    configure(settings, health_probe_cache_seconds=0)
    first = asyncio.ensure_future(check_database())
    second = asyncio.ensure_future(check_database())
    await asyncio.sleep(0)  # both are waiting for the one probe
    first.cancel()
    await second
    assert first.cancelled() and len(probes) == 1


async def test_an_unreachable_database_is_reported_at_every_check(settings: Settings) -> None:
    configure(
        settings,
        database_url="postgresql+psycopg://nobody@127.0.0.1:1/none",
        database_connect_timeout=1,
        health_probe_cache_seconds=3600,
    )
    try:
        for _ in range(2):  # a failure is not remembered: each check probes, and each says so
            with pytest.raises(ServiceUnavailable):
                await check_database()
    finally:
        dispose_engines()

"""Liveness and database reachability, for load balancers and container health checks.

The endpoint needs no token, so anyone may call it as often as they like: the database is probed at most once
per HEALTH_PROBE_CACHE_SECONDS per process and database, and concurrent checks wait for the one probe in flight
instead of starting their own. Only a successful probe is remembered, so an outage shows at the next check
after that window, and a recovery at the very next check."""

from __future__ import annotations

import asyncio
import time
import weakref

import sqlalchemy as sa
from sqlmodel import Session

from referral_app.core.config import Settings, get_settings
from referral_app.services.bridge import run_with_session

_answered_at: dict[str, float] = {}  # database URL -> time.monotonic() of the start of its last good probe
# The probe in flight, per event loop (tests run several) and database URL.
_probes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Task[None]]] = (
    weakref.WeakKeyDictionary()
)


async def check_database(settings: Settings | None = None) -> None:
    """Return when the database answered within the window; raise ServiceUnavailable when it does not."""
    s = settings or get_settings()
    url = s.database_url
    answered = _answered_at.get(url)
    if answered is not None and time.monotonic() - answered < s.health_probe_cache_seconds:
        return
    loop = asyncio.get_running_loop()
    in_flight = _probes.setdefault(loop, {})
    probe = in_flight.get(url)
    if probe is None:
        probe = loop.create_task(_probe(url, s))
        in_flight[url] = probe
        probe.add_done_callback(lambda done: _finished(in_flight, url, done))
    await asyncio.shield(probe)  # a check that is cancelled leaves the probe to the others


async def _probe(url: str, s: Settings) -> None:
    started = time.monotonic()
    await run_with_session(_ping)
    _answered_at[url] = started


def _finished(in_flight: dict[str, asyncio.Task[None]], url: str, probe: asyncio.Task[None]) -> None:
    in_flight.pop(url, None)
    if not probe.cancelled():
        probe.exception()  # retrieved here too, for when every waiting check was cancelled


def forget() -> None:
    """Probe afresh at the next check (tests)."""
    _answered_at.clear()


def _ping(session: Session) -> None:
    session.execute(sa.text("SELECT 1"))
    session.rollback()

"""What the server does around serving: migrate before the first request, tidy up while running."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
from collections.abc import AsyncIterator

import anyio.to_thread

from referral_app.core.config import get_settings
from referral_app.core.db import dispose_engines, migrate
from referral_app.services import audit, retention
from referral_app.services.bridge import run_with_session
from referral_app.services.server_keys import ensure_code_hmac_key
from referral_app.services.sms import http as sms_http

log = logging.getLogger(__name__)

RETENTION_CHECK_SECONDS = 3600  # how often each process asks whether the daily purge is due


def refuse_unsafe_start() -> None:
    """Exit with the reason, before anything is served, when there is no SECRET_KEY outside demo mode, or
    when codes would be written to the log (the log SMS sender) outside demo mode."""
    settings = get_settings()
    for problem in (settings.missing_secret_key(), settings.log_sender_outside_demo()):
        if problem:
            log.error("not starting: %s", problem)
            raise SystemExit(2)


def is_loopback(host: str) -> bool:
    """Whether a listening address is reachable from this machine only (`localhost`, 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def warn_if_demo_is_exposed(host: str | None = None) -> None:
    """Demo mode shows every login code on the page and in the API: say so loudly when it is served on an
    address other machines can reach (HOST, as `make run` and serve.py listen on it)."""
    host = host if host is not None else os.environ.get("HOST", "")
    if get_settings().demo_mode and host and not is_loopback(host):
        log.warning(
            "DEMO MODE IS REACHABLE FROM THE NETWORK on %s: every login code is shown to whoever asks, so anyone"
            " who can reach this address can sign in as any number. Set DEMO_MODE=false for real use.",
            host,
        )


@contextlib.asynccontextmanager
async def apply_migrations() -> AsyncIterator[None]:
    """Entered before the server accepts connections; every worker runs it, migrate() takes a lock."""
    refuse_unsafe_start()
    warn_if_demo_is_exposed()
    log.info("applying database migrations")
    await anyio.to_thread.run_sync(migrate)
    await run_with_session(ensure_code_hmac_key, settings=get_settings())
    log.info("database schema is up to date")
    try:
        yield
    finally:
        try:
            await write_pending_refusals()
        finally:
            await sms_http.close()
            dispose_engines()


async def write_pending_refusals() -> None:
    """At shutdown: the refusals this process counted and has not written yet (audit.flush_refusals). A
    failure is logged, never raised: the server stops anyway."""
    try:
        if written := await run_with_session(audit.flush_refusals):
            log.info("wrote %d audit rows for the refusals counted since their last row", written)
    except Exception:
        log.exception("writing the pending refusal counts at shutdown failed")


async def purge_daily() -> None:
    """The retention purge (services/retention.py) once a day: every process checks hourly, one runs it."""
    while True:
        await asyncio.sleep(RETENTION_CHECK_SECONDS)
        try:
            await run_with_session(retention.purge_if_due)
        except Exception:
            log.exception("the retention purge failed")

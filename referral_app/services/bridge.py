"""Calling service functions from async code (the web app's states, async routes, the lifespan).

`await run_with_session(users.get_profile, user_id=7)` runs `users.get_profile(session, user_id=7)` in a
worker thread with a session of its own, so database work never blocks the event loop; the arguments after
the session are checked against the service's own signature. A lost database becomes ServiceUnavailable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

import anyio.to_thread
from sqlmodel import Session

from referral_app.core.db import is_database_outage, session_scope
from referral_app.services.errors import ServiceUnavailable

P = ParamSpec("P")
T = TypeVar("T")

log = logging.getLogger(__name__)


async def run_with_session(fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
    def call() -> T:
        with session_scope() as session:
            return fn(session, *args, **kwargs)

    try:
        return await anyio.to_thread.run_sync(call)
    except Exception as exc:
        if is_database_outage(exc):
            log.error("database unavailable: %s", exc.__class__.__name__)
            raise ServiceUnavailable() from exc
        raise

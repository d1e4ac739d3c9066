"""The one HTTP client every provider uses: connections kept alive and reused, timeouts always set.

An httpx.AsyncClient belongs to the event loop it first ran on, so there is one per loop (a server worker has
one loop; tests start a loop per test)."""

from __future__ import annotations

import asyncio
import weakref

import httpx

CONNECT_TIMEOUT_SECONDS = 5.0
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()


def client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    current = _clients.get(loop)
    if current is None or current.is_closed:
        current = httpx.AsyncClient(
            timeout=httpx.Timeout(10.0, connect=CONNECT_TIMEOUT_SECONDS),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=60),
            follow_redirects=False,
            headers={"User-Agent": "referral_app"},
        )
        _clients[loop] = current
    return current


def timeout(seconds: float) -> httpx.Timeout:
    """A request's timeouts within what is left of the send's budget."""
    return httpx.Timeout(seconds, connect=min(seconds, CONNECT_TIMEOUT_SECONDS))


async def close() -> None:
    """Close this loop's client (at shutdown)."""
    current = _clients.pop(asyncio.get_running_loop(), None)
    if current is not None:
        await current.aclose()

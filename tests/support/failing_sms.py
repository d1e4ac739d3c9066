"""An SMS provider for servers started by tests: it takes SLOW_FAILURE_SECONDS, then fails."""

from __future__ import annotations

import asyncio

SLOW_FAILURE_SECONDS = 3.0


class SlowFailingSender:
    async def send(self, phone: str, text: str) -> None:
        await asyncio.sleep(SLOW_FAILURE_SECONDS)
        raise ConnectionError("provider answered 503")

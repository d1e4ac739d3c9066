"""What Reflex's state store (Redis) holds of a signed-in tab: never the bearer token in clear, and nothing for
longer than a tab's state lives."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from referral_app.limits import TAB_STATE_TTL_SECONDS
from tests.resilience.conftest import require_redis
from tests.support.reflex_socket import open_tab, sign_in
from tests.support.server import RunningServer

pytestmark = pytest.mark.server


async def test_redis_never_holds_the_bearer_token(servers: Callable[..., RunningServer]) -> None:
    redis_url = require_redis()
    store = redis.Redis.from_url(redis_url)
    store.flushdb()
    server = servers(REFLEX_REDIS_URL=redis_url, GRANIAN_WORKERS="1", SMS_DELAY_MIN="0.1", SMS_DELAY_MAX="0.2")
    phone = "+79170000001"
    async with open_tab(server.base_url) as tab:
        # Every event loads the tab's state from Redis: the profile page's load authenticated with the
        # token read back (unsealed) from there.
        token = await sign_in(tab, phone)
    try:
        keys = list(store.scan_iter())
        assert any(tab.token.encode() in key for key in keys), "the tab's state is in Redis"
        for key in keys:
            value = store.dump(key) or b""
            assert token.encode() not in value, key
            ttl = store.ttl(key)
            assert ttl == -2 or 0 < ttl <= TAB_STATE_TTL_SECONDS, key  # -2: gone meanwhile (a socket record)
    finally:
        store.flushdb()
        store.close()

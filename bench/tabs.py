"""Idle web-app tabs: `make bench-tabs` (BENCH_TABS, default 1000).

The production server (serve.py, as `make bench` starts it) on SQLite with one worker (bench's own settings),
then BENCH_TABS tabs connect as a browser landing on `/` does: socket.io over a websocket at /_event, then the
hydrate event, answered with the sign-in page's state. Measured: the server's resident memory (every process of it) before and after, so the memory per idle
tab; connects per second (BENCH_TABS_AT_ONCE tabs connecting at a time); and the sign-in (POST
/api/v1/auth/token) p50 with the tabs online. With BENCH_TABS_REDIS_URL (a Redis database of its own: it is
flushed) the web app's state lives in that Redis instead (REFLEX_REDIS_URL), and Redis's memory per tab is
measured too. Prints a Markdown table."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.config import log
from bench.server import AppServer
from referral_app.web.state.login import LoginState
from tests.support.reflex_socket import ReflexTab

TABS = int(os.environ.get("BENCH_TABS", "1000"))
AT_ONCE = int(os.environ.get("BENCH_TABS_AT_ONCE", "50"))
SIGN_INS = int(os.environ.get("BENCH_TABS_SIGN_INS", "30"))
REDIS_URL = os.environ.get("BENCH_TABS_REDIS_URL", "")
SETTLE_SECONDS = 3.0  # after the last connect, before reading memory: the server's allocator settles


def resident_bytes(server: AppServer) -> int:
    return sum(process.memory_info().rss for process in server.processes())


async def open_tab(base_url: str) -> ReflexTab:
    tab = ReflexTab(base_url)
    await tab.connect()
    await tab.hydrate("/")
    await tab.wait_for_var(LoginState, "step", "phone")
    return tab


async def connect_all(base_url: str) -> tuple[list[ReflexTab], float]:
    tabs: list[ReflexTab] = []
    gate = asyncio.Semaphore(AT_ONCE)

    async def one() -> None:
        async with gate:
            tabs.append(await open_tab(base_url))

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(TABS)))
    return tabs, time.perf_counter() - started


async def sign_in_times(base_url: str, first_phone: int) -> list[float]:
    """Each sign-in with a fresh phone (from `first_phone` on): a phone's second code within its resend
    cooldown would be refused."""
    times = []
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        for n in range(first_phone, first_phone + SIGN_INS):
            phone = f"+7916777{n:04d}"
            sent = await client.post("/api/v1/auth/code", json={"phone": phone})
            sent.raise_for_status()
            started = time.perf_counter()
            answer = await client.post(
                "/api/v1/auth/token", json={"phone": phone, "code": sent.json()["debug_code"]}
            )
            times.append(time.perf_counter() - started)
            answer.raise_for_status()
    return times


def redis_used_bytes() -> int:
    if not REDIS_URL:
        return 0
    from redis import Redis

    # The keys of this database only (MEMORY USAGE), not the whole instance's memory: others may share it.
    with Redis.from_url(REDIS_URL) as client:
        return sum(int(client.memory_usage(key, samples=0) or 0) for key in client.scan_iter(count=1000))


async def measure(server: AppServer) -> dict[str, float]:
    idle_before, redis_before = resident_bytes(server), redis_used_bytes()
    baseline = statistics.median(await sign_in_times(server.base_url, 0))
    tabs, seconds = await connect_all(server.base_url)
    await asyncio.sleep(SETTLE_SECONDS)
    with_tabs, redis_with_tabs = resident_bytes(server), redis_used_bytes()
    online = statistics.median(await sign_in_times(server.base_url, SIGN_INS))
    await asyncio.gather(*(tab.close() for tab in tabs))
    return {
        "tabs": TABS,
        "rss_before_mib": idle_before / 2**20,
        "rss_with_tabs_mib": with_tabs / 2**20,
        "per_tab_kib": (with_tabs - idle_before) / TABS / 1024,
        "redis_per_tab_kib": (redis_with_tabs - redis_before) / TABS / 1024,
        "connects_per_s": TABS / seconds,
        "sign_in_p50_ms_no_tabs": baseline * 1000,
        "sign_in_p50_ms_with_tabs": online * 1000,
    }


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-tabs-") as scratch:
        work = Path(scratch)
        server = AppServer(f"sqlite:///{work / 'bench.db'}", work)
        if REDIS_URL:
            from redis import Redis

            with Redis.from_url(REDIS_URL) as client:
                client.flushdb()
            server.settings["REFLEX_REDIS_URL"] = REDIS_URL
        try:
            server.start()
            result = asyncio.run(measure(server))
        finally:
            server.stop()
    print("| measured | value |\n|---|---|")
    print(f"| idle tabs connected (socket.io + hydrate), {AT_ONCE} at a time | {result['tabs']:.0f} |")
    print(
        f"| server resident memory before / with the tabs | {result['rss_before_mib']:.0f} MiB / "
        f"{result['rss_with_tabs_mib']:.0f} MiB |"
    )
    print(f"| web app state | {'Redis' if REDIS_URL else 'the server process'} |")
    print(f"| server memory per idle tab | {result['per_tab_kib']:.0f} KiB |")
    if REDIS_URL:
        print(f"| Redis memory per idle tab | {result['redis_per_tab_kib']:.0f} KiB |")
    print(f"| connects per second | {result['connects_per_s']:.0f} |")
    print(
        f"| sign-in (POST /api/v1/auth/token) p50, no tabs / with the tabs, {SIGN_INS} each | "
        f"{result['sign_in_p50_ms_no_tabs']:.1f} ms / {result['sign_in_p50_ms_with_tabs']:.1f} ms |"
    )
    log("tabs run done")
    return 0


if __name__ == "__main__":
    sys.exit(main())

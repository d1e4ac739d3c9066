"""Send-code burst: N concurrent POST /api/v1/auth/code with distinct phones, from this separate process.

    python -m bench.burst --url http://127.0.0.1:3000 -n 1000 --ips distinct

`--ips distinct` gives every request its own client address in X-Forwarded-For (believed from loopback, the
default TRUSTED_PROXIES), as 1000 users behind a reverse proxy would look; `--ips same` sends them all from
127.0.0.1 (needs a raised CODE_MAX_PER_IP_PER_HOUR). Prints one JSON line: wall time from the first request
to the last answer, status counts, errors (anything but 200, including connection errors), latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter

import aiohttp


def client_ip(i: int) -> str:
    # 198.18.0.0/15 is the range set aside for benchmarks (RFC 2544).
    return f"198.{18 + (i >> 16) % 2}.{(i >> 8) & 255}.{i & 255}"


async def burst(url: str, n: int, phone_start: int, distinct_ips: bool, timeout: float) -> dict:
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, force_close=True)
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    async with aiohttp.ClientSession(
        url, connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)
    ) as session:

        async def one(i: int) -> None:
            headers = {"X-Forwarded-For": client_ip(phone_start + i)} if distinct_ips else {}
            body = {"phone": f"+7912{(phone_start + i) % 10_000_000:07d}"}
            started = time.perf_counter()
            try:
                async with session.post("/api/v1/auth/code", json=body, headers=headers) as response:
                    await response.read()
                    statuses[str(response.status)] += 1
            except Exception as exc:
                statuses[type(exc).__name__] += 1
            latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        wall = time.perf_counter() - started
    latencies.sort()
    return {
        "n": n,
        "ips": "distinct" if distinct_ips else "same",
        "wall_s": round(wall, 3),
        "ok": statuses.get("200", 0),
        "errors": n - statuses.get("200", 0),
        "statuses": dict(statuses),
        "p50_s": round(latencies[len(latencies) // 2], 3),
        "p99_s": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 3),
        "max_s": round(latencies[-1], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="base URL of the server")
    parser.add_argument("-n", type=int, default=1000, help="concurrent requests")
    parser.add_argument("--phone-start", type=int, default=0, help="first phone index (+7912…)")
    parser.add_argument("--ips", choices=("distinct", "same"), default="distinct")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    result = asyncio.run(burst(args.url, args.n, args.phone_start, args.ips == "distinct", args.timeout))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

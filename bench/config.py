"""The benchmark's settings (from BENCH_* variables, see bench/run.py), paths, and its progress log."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
WRK_SCRIPT = ROOT / "bench" / "wrk" / "api.lua"

REPEATS = max(1, int(os.environ.get("BENCH_REPEATS", "2")))
WRK_DURATION = int(os.environ.get("BENCH_WRK_DURATION", "5"))
WRK_CONNECTIONS = int(os.environ.get("BENCH_WRK_CONNECTIONS", "16"))
VERIFY_POOL = int(os.environ.get("BENCH_VERIFY_POOL", "15000"))
STARTUP_TIMEOUT = float(os.environ.get("BENCH_STARTUP_TIMEOUT", "600"))
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/referral_bench")
# postgresql+redis: PostgreSQL with GRANIAN_WORKERS=2 and the web app's state in Redis (BENCH_REDIS_URL).
BACKENDS = [
    b.strip()
    for b in os.environ.get("BENCH_BACKENDS", "sqlite,postgresql,postgresql+redis").split(",")
    if b.strip()
]
# The backends on which the Django/DRF peer (bench/peer_django/, one worker) is measured: the one-worker ones.
PEER_BACKENDS = ("sqlite", "postgresql")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3")
MULTI_WORKERS = "2"
OUT = os.environ.get("BENCH_OUT", str(ROOT / "docs" / "benchmarks.md"))
# "flood": only the refusal flood (bench/flood.py) on each backend, printed, docs/benchmarks.md left alone;
# "console": only the console's pages on a big seeded database (bench/console_queries.py), printed.
ONLY = os.environ.get("BENCH_ONLY", "").strip()
# The console's pages on a big seeded PostgreSQL database (bench/console_queries.py): opt-in, seeding the
# default sizes takes many minutes. BENCH_CONSOLE_PG_URL is dropped and created afresh.
CONSOLE = os.environ.get("BENCH_CONSOLE", "") == "1" or ONLY == "console"
CONSOLE_PG_URL = os.environ.get(
    "BENCH_CONSOLE_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/console_bench"
)
CONSOLE_USERS = int(os.environ.get("BENCH_CONSOLE_USERS", "1000000"))
CONSOLE_EVENTS = int(os.environ.get("BENCH_CONSOLE_EVENTS", "10000000"))

# Settings for the benchmark server: `make run`'s demo mode, one worker process, and the per-IP send limit
# and SMS budgets raised so that the benchmark itself is not rate-limited (1000 codes from one IP in a
# burst, several thousand SMS in the run; the verify pool's codes must outlive the run). Every burst uses
# fresh phones, so the per-phone limits keep their defaults: the refusal flood needs them.
SERVER_SETTINGS = {
    "DEMO_MODE": "true",
    "GRANIAN_WORKERS": "1",
    "CODE_MAX_PER_IP_PER_HOUR": "1000000",
    "SMS_MAX_PER_HOUR": "1000000",
    "SMS_MAX_PER_COUNTRY_PER_HOUR": "1000000",
    "CODE_TTL_SECONDS": "3600",
}
REFERRAL_COUNTS = (0, 100, 10_000)


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)

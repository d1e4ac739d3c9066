"""`make bench`: start the server the way production does (serve.py, its front end built once), on SQLite, on
PostgreSQL and on PostgreSQL with two workers and Redis, measure each against floors measured in the same run
(bench/floor_app.py), check the server's own /metrics against what bench counted, and
print a Markdown report and write it into docs/benchmarks.md (between the GENERATED markers; the
hand-written text around them stays). The servers' process groups are stopped at the end, even on failure.

What is measured (each measurement twice or more, BENCH_REPEATS; the report gives the better run and lists
all of them, since the machine is shared and figures are noisy):
1. send-code burst: N concurrent POST /api/v1/auth/code with distinct phones (bench/burst.py, aiohttp,
   its own process): wall time and errors, for N = 100 and 1000 from distinct client IPs, and 1000 from
   one IP;
0. the floors: wrk against bench/floor_app.py's bare FastAPI route and bare ASGI GET, and the burst against its
   bare FastAPI sleep; the bare FastAPI route again beside each backend, just before each of its health and
   profile runs at 16 connections (the ratios' divisor, so that the machine's drift between runs minutes apart
   does not decide a target);
2. wrk (its own process, bench/wrk/api.lua): GET /api/health, GET /api/v1/profile, and POST
   /api/v1/auth/token with pre-issued single-use codes (bench/seed.py codes), at 16 connections
   (throughput) and at 1 (latency);
3. the same for a user with 10,000 referrals (bench/seed.py users): GET /api/v1/profile and
   GET /api/v1/profile/referrals?limit=50, plus the SQL statements per call counted in-process for 0, 100
   and 10,000 referrals (bench/queries.py);
4. the refusal flood (bench/flood.py): login p50 alone and beside a flood of refused requests, and the
   audit rows written per refusal;
5. memory of the server's process tree (psutil): idle after start, peak during the 1000 bursts, idle at
   the end;
7. on SQLite and PostgreSQL (one worker), after the app's wrk runs: the Django/DRF peer of GET /api/v1/profile
   (bench/peer_django/, gunicorn with one sync worker) on the same database, checked to answer as ours does
   (statuses with the token, a wrong one and none; the body's fields), then wrk with the same token and
   connections; the report gives our req/s ÷ the peer's.

This module only runs them in order. bench/server.py starts and stops the servers (through the tests'
tests/support/server.py), bench/measure.py runs one measurement, bench/report.py writes the report;
bench/config.py reads the settings below and bench/commands.py records every command line for the report.

Environment:
  BENCH_BACKENDS          sqlite,postgresql,postgresql+redis (default) or some of them; postgresql+redis
                          is PostgreSQL with GRANIAN_WORKERS=2 and REFLEX_REDIS_URL=BENCH_REDIS_URL
  BENCH_PG_URL            postgresql+psycopg://postgres@127.0.0.1:5432/referral_bench (default); the
                          database is dropped and created afresh, so its name must contain "bench"
  BENCH_REPEATS           runs of each measurement (default 2)
  BENCH_WRK_DURATION      seconds per wrk run (default 5)
  BENCH_WRK_CONNECTIONS   connections of the throughput runs (default 16, 2 wrk threads)
  BENCH_REDIS_URL         Redis for the two-worker run (default redis://127.0.0.1:6379/3)
  BENCH_VERIFY_POOL       pre-issued codes per verify run (default 15000)
  BENCH_OUT               report file (default docs/benchmarks.md; empty: print only)
  BENCH_STARTUP_TIMEOUT   seconds to wait for the server (default 600: the first start builds the front end)
  BENCH_ONLY              "flood": only step 4 on each backend (no calibration, bursts, wrk or memory), on a
                          fresh server; its figures and the load are printed and docs/benchmarks.md is not
                          written. E.g. `BENCH_ONLY=flood BENCH_BACKENDS=sqlite make bench` (about a minute
                          and a half once the front end is built). "console": only step 6, printed
  BENCH_CONSOLE           1: also step 6, the console's pages (bench/console_queries.py): BENCH_CONSOLE_USERS
                          users (default 1,000,000) and BENCH_CONSOLE_EVENTS audit events (default 10,000,000)
                          seeded into BENCH_CONSOLE_PG_URL (default .../console_bench, dropped and created
                          afresh), then the p50 of each page's reads; off by default, seeding takes many minutes
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from bench.commands import PLACEHOLDERS, run_python
from bench.config import (
    BACKENDS,
    CONSOLE,
    CONSOLE_EVENTS,
    CONSOLE_PG_URL,
    CONSOLE_USERS,
    MULTI_WORKERS,
    ONLY,
    OUT,
    PEER_BACKENDS,
    PG_URL,
    REDIS_URL,
    REFERRAL_COUNTS,
    REPEATS,
    SERVER_SETTINGS,
    VERIFY_POOL,
    WRK_CONNECTIONS,
    log,
)
from bench.flood import run_flood
from bench.floor_app import FASTAPI_FLOOR_PATH, FLOOR_PATH
from bench.machine import loadavg, machine, postgres_version
from bench.measure import (
    BackendResult,
    answers_differ,
    check_counter,
    login,
    memory,
    run_burst,
    run_wrk,
    scrape,
    wrk_answered,
)
from bench.report import END_MARK, console_report, fmt_flood, report, write_report
from bench.server import PEER_PATH, AppServer, FloorServer, PeerServer, fresh_postgres


def _sigterm(_signum: int, _frame: Any) -> None:
    raise SystemExit(143)  # so that the `finally`s stop the servers


def run_floor(work_dir: Path, result: BackendResult) -> None:
    """The calibration: the same burst against a bare endpoint, and wrk against a bare FastAPI route and a bare
    ASGI GET, to show what the machine itself allows; the app's figures are reported as ratios to these."""
    log("=== calibration: bare FastAPI route, bare ASGI GET, bare FastAPI endpoint with the same 1-2 s sleep ===")
    server = FloorServer(work_dir)
    try:
        server.start()
        time.sleep(1)
        run_burst(server, 1000, "distinct", result, sample_memory=False)
        for connections in (WRK_CONNECTIONS, 1):
            for _ in range(REPEATS):
                run_wrk(server, "floor", FLOOR_PATH, connections, result)
        for _ in range(REPEATS):
            run_wrk(server, "fastapi_floor", FASTAPI_FLOOR_PATH, WRK_CONNECTIONS, result)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        log(f"calibration failed: {result.error}")
    finally:
        server.stop()


def run_peer(app: AppServer, database_url: str, work_dir: Path, token: str, result: BackendResult) -> None:
    """The Django/DRF peer of GET /api/v1/profile on `app`'s database, with `app`'s token and wrk settings. Its
    figures are kept only when it answers as the app does (answers_differ); a failure is kept in the result."""
    log("=== the Django/DRF peer: bench/peer_django/, gunicorn, 1 sync worker ===")
    peer = PeerServer(database_url, work_dir)
    try:
        peer.start()
        differs = answers_differ(app, peer, PEER_PATH, token)
        if differs:
            result.peer_error = f"the peer answers unlike ours, {differs}"
            log(f"no peer figures: {result.peer_error}")
            return
        for connections in (WRK_CONNECTIONS, 1):
            for _ in range(REPEATS):
                run_wrk(peer, "peer_profile", PEER_PATH, connections, result, token=token)
    except Exception as exc:
        result.peer_error = f"{type(exc).__name__}: {exc}"
        log(f"the peer failed: {result.peer_error}")
        tail = peer.log_tail()
        if tail:
            log("last lines of the peer's log:\n" + tail)
    finally:
        peer.stop()


def bench_backend(
    name: str, database_url: str, work_dir: Path, extra_settings: dict[str, str] | None = None
) -> BackendResult:
    """Every measurement against one server on `database_url`; a failure is kept in the result, not raised."""
    result = BackendResult(name=name, database_url=database_url)
    result.load["start"] = loadavg()
    server = AppServer(database_url, work_dir)
    server.settings.update(extra_settings or {})
    # The throughput targets' divisor, measured again just before the runs it divides (below): on a shared
    # machine the same bare route served 10,000-16,000 req/s in runs minutes apart.
    floor = FloorServer(work_dir)
    try:
        server.start()
        floor.start()
        time.sleep(3)
        if ONLY == "flood":
            run_flood(server, result, work_dir, pool_start=0)
            return result
        result.memory["idle_start"] = memory(server.processes())
        log(f"idle memory: {result.memory['idle_start']}")

        env = {**server.env()}
        shown_env = {"DATABASE_URL": database_url, "CODE_TTL_SECONDS": SERVER_SETTINGS["CODE_TTL_SECONDS"]}

        # 3. seed the referrers first (before the verify runs create users with random invite codes).
        users = json.loads(
            run_python(
                "bench.seed", "users", "--referrals", *map(str, REFERRAL_COUNTS), env=env, shown_env=shown_env
            )
        )
        log(f"seeded referrers: {users}")
        user_ids = json.dumps({k: v["id"] for k, v in users.items()})
        PLACEHOLDERS[user_ids] = '"$USER_IDS"'
        queries = json.loads(
            run_python("bench.queries", "--users", user_ids, env=env, shown_env={"DATABASE_URL": database_url})
        )
        result.queries = queries
        for case, figures in queries.items():
            log(f"queries {case}: {figures['statements']} statements, in-process p50 {figures['p50_ms']} ms")

        # 1. send-code bursts (memory sampled during the 1000s), the server's counters read before and after.
        before = scrape(server)
        run_burst(server, 100, "distinct", result, sample_memory=False)
        run_burst(server, 1000, "distinct", result, sample_memory=True)
        run_burst(server, 1000, "same", result, sample_memory=True)
        after = scrape(server)
        sent = sum(run["ok"] for runs in result.bursts.values() for run in runs)
        check_counter(
            result, "send-code bursts: 200s", before, after, "referral_app_codes_sent_total", (sent, sent)
        )
        check_counter(
            result,
            "send-code bursts: 200s",
            before,
            after,
            "referral_app_http_requests_total",
            (sent, sent),
            method="POST",
            route="/api/v1/auth/code",
            status="200",
        )
        result.memory["burst_peak"] = {
            key: max(
                run["memory_peak"][key]
                for k, runs in result.bursts.items()
                if k.startswith("1000:")
                for run in runs
            )
            for key in ("rss_mib", "pss_mib", "worker_rss_mib")
        }

        # 2./3. wrk.
        fresh_token = login(server, "+79170000001")
        big_token = login(server, users[str(REFERRAL_COUNTS[-1])]["phone"])
        before = scrape(server)
        pool_start = 0
        for connections in (WRK_CONNECTIONS, 1):
            for _ in range(REPEATS):
                if connections > 1:
                    run_wrk(floor, "fastapi_floor", FASTAPI_FLOOR_PATH, connections, result)
                run_wrk(server, "health", "/api/health", connections, result)
                run_wrk(server, "profile", "/api/v1/profile", connections, result, token=fresh_token)
            # Enough single-use codes for the fastest run seen here several times over; "reused" in the
            # report would say if a run ran out.
            pool = VERIFY_POOL if connections > 1 else max(2000, VERIFY_POOL // 4)
            for _ in range(REPEATS):
                pairs = work_dir / f"pairs-{name}-{pool_start}.txt"
                PLACEHOLDERS[f"--start {pool_start} "] = "--start $START "
                PLACEHOLDERS[str(pairs)] = "$PAIRS"
                run_python(
                    "bench.seed",
                    "codes",
                    "--count",
                    str(pool),
                    "--start",
                    str(pool_start),
                    "--out",
                    str(pairs),
                    env=env,
                    shown_env=shown_env,
                )
                pool_start += pool
                run_wrk(server, "verify", "/api/v1/auth/token", connections, result, pairs=pairs)
            for _ in range(REPEATS):
                run_wrk(server, "profile_10k", "/api/v1/profile", connections, result, token=big_token)
            for _ in range(REPEATS):
                run_wrk(
                    server,
                    "referrals_10k",
                    "/api/v1/profile/referrals?limit=50",
                    connections,
                    result,
                    token=big_token,
                )

        after = scrape(server)
        signed_in = wrk_answered(result, *(f"verify@c{c}" for c in (WRK_CONNECTIONS, 1)))
        check_counter(result, "wrk sign-ins: 200s", before, after, "referral_app_sign_ins_total", signed_in)
        profiles = wrk_answered(
            result, *(f"{k}@c{c}" for k in ("profile", "profile_10k") for c in (WRK_CONNECTIONS, 1))
        )
        check_counter(
            result,
            "wrk GET /api/v1/profile: 200s",
            before,
            after,
            "referral_app_http_requests_total",
            profiles,
            method="GET",
            route="/api/v1/profile",
            status="200",
        )

        # 7. the peer, while this database and its token are live (our server idles meanwhile).
        if name in PEER_BACKENDS:
            run_peer(server, database_url, work_dir, fresh_token, result)

        # 4. refused requests beside logins.
        run_flood(server, result, work_dir, pool_start)

        time.sleep(3)
        result.memory["idle_end"] = memory(server.processes())
        log(f"idle memory at the end: {result.memory['idle_end']}")
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        log(f"{name} failed: {result.error}")
        traceback.print_exc()
        tail = server.log_tail()
        if tail:
            log("last lines of the server log:\n" + tail)
    finally:
        floor.stop()
        server.stop()
        result.load["end"] = loadavg()
    return result


def run_console() -> str:
    """Step 6: the console's reads on a big seeded database, as a Markdown section for the report."""
    log(f"=== console: seeding {CONSOLE_USERS} users and {CONSOLE_EVENTS} audit events ===")
    PLACEHOLDERS[CONSOLE_PG_URL] = "$CONSOLE_PG_URL"
    out = run_python(
        "bench.console_queries",
        CONSOLE_PG_URL,
        str(CONSOLE_USERS),
        str(CONSOLE_EVENTS),
        env=dict(os.environ),
        shown_env={},
    )
    log(out)
    return console_report(out, CONSOLE_USERS, CONSOLE_EVENTS)


def main() -> int:
    signal.signal(signal.SIGTERM, _sigterm)
    if ONLY == "console":
        print(run_console())
        return 0
    if shutil.which("wrk") is None:
        log("wrk is missing: apt-get install wrk (make bench installs it when run as root with apt)")
        return 1
    if ONLY not in ("", "flood", "console"):
        log(f"unknown BENCH_ONLY {ONLY!r} (flood, console, or unset for everything)")
        return 2
    info = machine()
    results: list[BackendResult] = []
    with tempfile.TemporaryDirectory(prefix="referral_app-bench.") as tmp:
        work_dir = Path(tmp)
        PLACEHOLDERS[tmp] = "$TMP"
        if not ONLY:
            floor = BackendResult(name="floor", database_url="")
            run_floor(work_dir, floor)
            results.append(floor)
        for backend in BACKENDS:
            log(f"=== {backend} ===")
            extra: dict[str, str] = {}
            if backend == "sqlite":
                url = f"sqlite:///{work_dir / 'bench.db'}"
            elif backend in ("postgresql", "postgresql+redis"):
                if backend == "postgresql+redis":
                    extra = {"GRANIAN_WORKERS": MULTI_WORKERS, "REFLEX_REDIS_URL": REDIS_URL}
                    PLACEHOLDERS[REDIS_URL] = "$REDIS_URL"
                url = PG_URL
                try:
                    fresh_postgres(url)
                    info["postgresql"] = postgres_version(url)
                except Exception as exc:
                    results.append(
                        BackendResult(name=backend, database_url=url, error=f"{type(exc).__name__}: {exc}")
                    )
                    log(f"postgresql skipped: {exc}")
                    continue
            else:
                log(f"unknown backend {backend!r} (sqlite, postgresql)")
                return 2
            results.append(bench_backend(backend, url, work_dir, extra))
    if ONLY == "flood":
        for result in results:
            print(
                f"{result.name} (load {result.load.get('start')} → {result.load.get('end')}): {fmt_flood(result)}"
            )
            print(json.dumps(result.flood))
        return 1 if any(r.error for r in results) else 0
    generated = report(info, results)
    if CONSOLE:
        try:
            generated = generated.replace(END_MARK, run_console() + "\n" + END_MARK)
        except Exception as exc:
            log(f"console step failed: {exc}")
            results.append(BackendResult(name="console", database_url=CONSOLE_PG_URL, error=str(exc)))
    print(generated)
    if OUT:
        write_report(Path(OUT), generated)
        log(f"wrote {OUT}")
    return 1 if any(r.error or r.peer_error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

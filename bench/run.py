"""`make bench`: start the server the way `make run` does, once on SQLite and once on PostgreSQL, measure,
print a Markdown report and write it into docs/benchmarks.md (between the GENERATED markers; the
hand-written text around them stays). The servers' process groups are stopped at the end, even on failure.

What is measured (each measurement twice or more, BENCH_REPEATS; the report gives the better run and lists
all of them, since the machine is shared and figures are noisy):
1. send-code burst: N concurrent POST /api/v1/auth/code with distinct phones (bench/burst.py, aiohttp,
   its own process): wall time and errors, for N = 100 and 1000 from distinct client IPs, and 1000 from
   one IP;
2. wrk (its own process, bench/wrk/api.lua): GET /api/v1/profile, and POST /api/v1/auth/token with
   pre-issued single-use codes (bench/seed.py codes), at 32 connections (throughput) and at 1 (latency);
3. the same for a user with 10,000 referrals (bench/seed.py users): GET /api/v1/profile and
   GET /api/v1/profile/referrals?limit=50, plus the SQL statements per call counted in-process for 0, 100
   and 10,000 referrals (bench/queries.py);
4. memory of the server's process tree (psutil): idle after start, peak during the 1000 bursts, idle at
   the end.

Environment:
  BENCH_BACKENDS          sqlite,postgresql (default) or one of them
  BENCH_PG_URL            postgresql+psycopg://postgres@127.0.0.1:5432/referral_bench (default); the
                          database is dropped and created afresh, so its name must contain "bench"
  BENCH_REPEATS           runs of each measurement (default 2)
  BENCH_WRK_DURATION      seconds per wrk run (default 8)
  BENCH_WRK_CONNECTIONS   connections of the throughput runs (default 32, 2 wrk threads)
  BENCH_VERIFY_POOL       pre-issued codes per verify run (default 15000)
  BENCH_OUT               report file (default docs/benchmarks.md; empty: print only)
  BENCH_STARTUP_TIMEOUT   seconds to wait for the server (default 600: the first start builds the front end)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
WRK_SCRIPT = ROOT / "bench" / "wrk" / "api.lua"
BEGIN_MARK = "<!-- BEGIN GENERATED: make bench writes everything down to the END marker -->"
END_MARK = "<!-- END GENERATED -->"

REPEATS = max(1, int(os.environ.get("BENCH_REPEATS", "2")))
WRK_DURATION = int(os.environ.get("BENCH_WRK_DURATION", "8"))
WRK_CONNECTIONS = int(os.environ.get("BENCH_WRK_CONNECTIONS", "32"))
VERIFY_POOL = int(os.environ.get("BENCH_VERIFY_POOL", "15000"))
STARTUP_TIMEOUT = float(os.environ.get("BENCH_STARTUP_TIMEOUT", "600"))
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/referral_bench")
BACKENDS = [b.strip() for b in os.environ.get("BENCH_BACKENDS", "sqlite,postgresql").split(",") if b.strip()]
OUT = os.environ.get("BENCH_OUT", str(ROOT / "docs" / "benchmarks.md"))

# Settings for the benchmark server: `make run`'s demo mode, one worker process, and the send limits
# raised so that the benchmark itself is not rate-limited (1000 codes from one IP in a burst; the verify
# pool's codes must outlive the run).
SERVER_SETTINGS = {
    "DEMO_MODE": "true",
    "GRANIAN_WORKERS": "1",
    "CODE_MAX_PER_IP_PER_HOUR": "1000000",
    "CODE_MAX_PER_PHONE_PER_HOUR": "1000",
    "CODE_RESEND_COOLDOWN_SECONDS": "0",
    "CODE_TTL_SECONDS": "3600",
}
REFERRAL_COUNTS = (0, 100, 10_000)


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _sigterm(_signum: int, _frame: Any) -> None:
    raise SystemExit(143)


# --- the machine -----------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit or "unknown",
        "nproc": str(os.cpu_count()),
        "ram": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "wrk": (wrk.stdout or wrk.stderr).splitlines()[0].split(" Copyright")[0]
        if (wrk.stdout or wrk.stderr)
        else "?",
    }


def loadavg() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


# --- commands, recorded for the report -------------------------------------------------------------------

COMMANDS: list[str] = []
# Shown as shell variables in the report: the temporary directory, the free port of each run, ...
PLACEHOLDERS: dict[str, str] = {}


def record(cmd: list[str], env: dict[str, str] | None = None, note: str = "") -> None:
    shown = " ".join(f"{k}={v}" for k, v in (env or {}).items())
    line = (shown + " " if shown else "") + " ".join(cmd)
    line = line.replace(PYTHON, ".venv/bin/python").replace(str(ROOT) + "/", "")
    for value, name in PLACEHOLDERS.items():
        line = line.replace(value, name)
    if note:
        line += f"    # {note}"
    if line not in COMMANDS:
        COMMANDS.append(line)


def run_python(module: str, *args: str, env: dict[str, str], shown_env: dict[str, str]) -> str:
    cmd = [PYTHON, "-m", module, *args]
    record(cmd, shown_env)
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{module} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


# --- the server ------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(method: str, url: str, body: dict | None = None, token: str | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (http://127.0.0.1 only)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read() or b"null")


class Server:
    """`make run` in a session of its own, so the whole tree (make, reflex, granian worker) is one group."""

    note = "the server; stopped with kill -TERM -- -<its process group>"

    def __init__(self, database_url: str, work_dir: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        self.log_path = work_dir / f"server-{self.port}.log"
        self.process: subprocess.Popen | None = None
        self.command = ["make", "--no-print-directory", "run"]
        self.settings = {"PORT": str(self.port), "DATABASE_URL": database_url, **SERVER_SETTINGS}
        PLACEHOLDERS[f"127.0.0.1:{self.port}"] = "127.0.0.1:$PORT"
        PLACEHOLDERS[f"PORT={self.port}"] = "PORT=$PORT"

    def env(self) -> dict[str, str]:
        # The outer make's MAKEFLAGS would carry its command-line variables into this make: drop them.
        base = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
        return {**base, **self.settings}

    def healthy(self) -> bool:
        with contextlib.suppress(OSError, ValueError):
            return http_json("GET", self.base_url + "/api/health") == {"status": "ok"}
        return False

    def start(self) -> None:
        record(["setsid", *self.command], self.settings, self.note)
        with open(self.log_path, "wb") as out:
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        log(f"started {shlex.join(self.command)} on port {self.port} (process group {self.process.pid})")
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log_tail()}")
            if self.healthy():
                log("server healthy")
                return
            time.sleep(1)
        raise RuntimeError(f"the server did not become healthy in {STARTUP_TIMEOUT:.0f}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        if self.process is None:
            return
        pgid = self.process.pid
        if self.process.poll() is None or _group_alive(pgid):
            log(f"stopping the server (process group {pgid})")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and _group_alive(pgid):
                time.sleep(0.25)
                self.process.poll()
            if _group_alive(pgid):
                log("the server did not stop in 20 s; killing its process group")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self.process = None

    def processes(self) -> list[psutil.Process]:
        assert self.process is not None
        root = psutil.Process(self.process.pid)
        return [root, *root.children(recursive=True)]


class FloorServer(Server):
    """bench/floor_app.py under granian with one worker: the calibration for the send-code burst."""

    note = "calibration server (bench/floor_app.py)"

    def __init__(self, work_dir: Path) -> None:
        super().__init__("", work_dir)
        self.settings = {"PORT": str(self.port)}
        self.command = [
            str(Path(PYTHON).parent / "granian"),
            "--interface",
            "asgi",
            "--workers",
            "1",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            "bench.floor_app:app",
        ]

    def healthy(self) -> bool:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        return False


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- memory ----------------------------------------------------------------------------------------------


def memory(processes: list[psutil.Process]) -> dict[str, float]:
    """RSS summed over the tree (counts pages shared by the forked worker twice), PSS summed (shares them
    out), and the biggest process's RSS (the granian worker that serves the requests). MiB."""
    rss = pss = biggest = 0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            info = process.memory_full_info()
            rss += info.rss
            pss += getattr(info, "pss", 0)
            biggest = max(biggest, info.rss)
    mib = 1024 * 1024
    return {
        "rss_mib": round(rss / mib, 1),
        "pss_mib": round(pss / mib, 1),
        "worker_rss_mib": round(biggest / mib, 1),
    }


class MemorySampler:
    def __init__(self, processes: list[psutil.Process], interval: float = 0.1) -> None:
        self.processes, self.interval = processes, interval
        self.peak: dict[str, float] = {"rss_mib": 0.0, "pss_mib": 0.0, "worker_rss_mib": 0.0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            sample = memory(self.processes)
            for key, value in sample.items():
                self.peak[key] = max(self.peak[key], value)
            self._stop.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- databases -------------------------------------------------------------------------------------------


def fresh_postgres(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = parsed.database or ""
    if "bench" not in name:
        raise RuntimeError(
            f"refusing to drop and recreate {name!r}: BENCH_PG_URL's database name must contain 'bench'"
        )
    admin = parsed.set(drivername="postgresql", database="postgres")
    conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
        version = conn.execute("SHOW server_version").fetchone()
    log(f"fresh PostgreSQL database {name} (server {version[0] if version else '?'})")


def postgres_version(url: str) -> str:
    import psycopg
    from sqlalchemy.engine import make_url

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, connect_timeout=5) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return row[0].split()[0] if row else "?"


# --- measurements ----------------------------------------------------------------------------------------


@dataclass
class BackendResult:
    name: str
    database_url: str
    error: str | None = None
    bursts: dict[str, list[dict]] = field(default_factory=dict)
    wrk: dict[str, list[dict]] = field(default_factory=dict)
    queries: dict[str, dict] = field(default_factory=dict)
    memory: dict[str, dict] = field(default_factory=dict)
    load: dict[str, str] = field(default_factory=dict)


_phone_counter = 0


def run_burst(server: Server | FloorServer, n: int, ips: str, result: BackendResult, sample_memory: bool) -> None:
    global _phone_counter
    key = f"{n}:{ips}"
    for attempt in range(REPEATS):
        start, _phone_counter = _phone_counter, _phone_counter + n
        cmd = [
            PYTHON,
            "-m",
            "bench.burst",
            "--url",
            server.base_url,
            "-n",
            str(n),
            "--ips",
            ips,
            "--phone-start",
            str(start),
        ]
        record([*cmd[:-1], "$START"])
        sampler = MemorySampler(server.processes()) if sample_memory else contextlib.nullcontext()
        with sampler:
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"burst failed:\n{done.stderr[-3000:]}")
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        if isinstance(sampler, MemorySampler):
            figures["memory_peak"] = dict(sampler.peak)
        result.bursts.setdefault(key, []).append(figures)
        log(
            f"burst {n} ({ips} IPs) run {attempt + 1}: {figures['wall_s']} s, {figures['errors']} errors, "
            f"statuses {figures['statuses']}"
        )
        time.sleep(2)  # let the server settle


def run_wrk(
    server: Server,
    key: str,
    path: str,
    connections: int,
    result: BackendResult,
    *,
    token: str | None = None,
    pairs: Path | None = None,
) -> None:
    threads = 1 if connections < 2 else 2
    env_shown = {"BENCH_MODE": "verify" if pairs else "get", "BENCH_THREADS": str(threads)}
    if token:
        env_shown["BENCH_TOKEN"] = "$TOKEN_10K" if key.endswith("_10k") else "$TOKEN"
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{WRK_DURATION}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT),
        server.base_url + path,
    ]
    if pairs:
        cmd += ["--", str(pairs)]
    shown = [c if not (pairs and c == str(pairs)) else "$PAIRS" for c in cmd]
    record(shown, env_shown)
    env = {**os.environ, **env_shown, "BENCH_TOKEN": token or ""}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    figures = json.loads(line.removeprefix("BENCH_JSON "))
    figures["connections"] = connections
    result.wrk.setdefault(f"{key}@c{connections}", []).append(figures)
    errors = sum(figures["errors"].values())
    log(
        f"wrk {key} c={connections}: {figures['rps']:.0f} req/s, p50 {figures['p50_ms']:.1f} ms, "
        f"p99 {figures['p99_ms']:.1f} ms, errors {errors}, reused {figures['reused']}"
    )


def run_floor(work_dir: Path, result: BackendResult) -> None:
    log("=== calibration: bare FastAPI endpoint with the same 1-2 s sleep ===")
    server = FloorServer(work_dir)
    try:
        server.start()
        time.sleep(1)
        run_burst(server, 1000, "distinct", result, sample_memory=False)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        log(f"calibration failed: {result.error}")
    finally:
        server.stop()


def login(server: Server, phone: str) -> str:
    sent = http_json("POST", server.base_url + "/api/v1/auth/code", {"phone": phone})
    issued = http_json(
        "POST", server.base_url + "/api/v1/auth/token", {"phone": phone, "code": sent["debug_code"]}
    )
    return issued["access_token"]


def bench_backend(name: str, database_url: str, work_dir: Path) -> BackendResult:
    result = BackendResult(name=name, database_url=database_url)
    result.load["start"] = loadavg()
    server = Server(database_url, work_dir)
    try:
        server.start()
        time.sleep(3)
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

        # 1. send-code bursts (memory sampled during the 1000s).
        run_burst(server, 100, "distinct", result, sample_memory=False)
        run_burst(server, 1000, "distinct", result, sample_memory=True)
        run_burst(server, 1000, "same", result, sample_memory=True)
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
        pool_start = 0
        for connections in (WRK_CONNECTIONS, 1):
            for _ in range(REPEATS):
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
        server.stop()
        result.load["end"] = loadavg()
    return result


# --- the report ------------------------------------------------------------------------------------------


def best_burst(runs: list[dict]) -> dict:
    return min(runs, key=lambda r: (r["errors"], r["wall_s"]))


def best_wrk(runs: list[dict], by_latency: bool) -> dict:
    if by_latency:
        return min(runs, key=lambda r: (sum(r["errors"].values()), r["p50_ms"]))
    return max(runs, key=lambda r: (-sum(r["errors"].values()), r["rps"]))


def fmt_burst(result: BackendResult, key: str) -> str:
    runs = result.bursts.get(key)
    if not runs:
        return "—"
    best = best_burst(runs)
    all_walls = ", ".join(f"{r['wall_s']:.2f}" for r in runs)
    return f"**{best['wall_s']:.2f} s**, {best['errors']} errors (runs: {all_walls} s)"


def fmt_wrk(result: BackendResult, key: str, latency_only: bool = False) -> str:
    runs = result.wrk.get(key)
    if not runs:
        return "—"
    best = best_wrk(runs, latency_only)
    errors = sum(best["errors"].values())
    err = f", {errors} errors" if errors else ""
    if latency_only:
        return f"p50 **{best['p50_ms']:.1f}** / p99 {best['p99_ms']:.1f} ms{err}"
    return f"**{best['rps']:.0f} req/s**, p50 {best['p50_ms']:.1f} / p99 {best['p99_ms']:.1f} ms{err}"


def fmt_queries(result: BackendResult, call: str) -> str:
    if not result.queries:
        return "—"
    counts = [str(result.queries[f"{call}:{n}"]["statements"]) for n in REFERRAL_COUNTS]
    times = [f"{result.queries[f'{call}:{n}']['p50_ms']:.2f}" for n in REFERRAL_COUNTS]
    return f"{' / '.join(counts)} statements; p50 {' / '.join(times)} ms"


def fmt_memory(result: BackendResult, key: str) -> str:
    m = result.memory.get(key)
    if not m:
        return "—"
    return f"RSS {m['rss_mib']:.0f} MiB (PSS {m['pss_mib']:.0f}; worker {m['worker_rss_mib']:.0f})"


def report(info: dict[str, str], all_results: list[BackendResult]) -> str:
    names = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "floor": "calibration"}
    floor = next((r for r in all_results if r.name == "floor"), None)
    results = [r for r in all_results if r.name != "floor"]
    c = WRK_CONNECTIONS
    heads = [names.get(r.name, r.name) for r in results]
    rows: list[tuple[str, list[str], str]] = [
        ("send-code burst, 100 concurrent, distinct IPs", [fmt_burst(r, "100:distinct") for r in results], ""),
        (
            "send-code burst, 1000 concurrent, distinct IPs",
            [fmt_burst(r, "1000:distinct") for r in results],
            "≤ 2.5 s",
        ),
        ("send-code burst, 1000 concurrent, one client IP", [fmt_burst(r, "1000:same") for r in results], ""),
        (f"GET /api/v1/profile (no referrals), {c} conn.", [fmt_wrk(r, f"profile@c{c}") for r in results], ""),
        ("GET /api/v1/profile (no referrals), 1 conn.", [fmt_wrk(r, "profile@c1", True) for r in results], ""),
        (
            f"POST /api/v1/auth/token (valid single-use codes), {c} conn.",
            [fmt_wrk(r, f"verify@c{c}") for r in results],
            "",
        ),
        (
            "POST /api/v1/auth/token (valid single-use codes), 1 conn.",
            [fmt_wrk(r, "verify@c1", True) for r in results],
            "",
        ),
        (
            f"GET /api/v1/profile, 10,000 referrals, {c} conn.",
            [fmt_wrk(r, f"profile_10k@c{c}") for r in results],
            "",
        ),
        (
            "GET /api/v1/profile, 10,000 referrals, 1 conn.",
            [fmt_wrk(r, "profile_10k@c1", True) for r in results],
            "p50 ≤ 20 ms",
        ),
        (
            f"GET /api/v1/profile/referrals?limit=50, 10,000 referrals, {c} conn.",
            [fmt_wrk(r, f"referrals_10k@c{c}") for r in results],
            "",
        ),
        (
            "GET /api/v1/profile/referrals?limit=50, 10,000 referrals, 1 conn.",
            [fmt_wrk(r, "referrals_10k@c1", True) for r in results],
            "p50 ≤ 20 ms",
        ),
        (
            "SQL per `get_profile`, 0 / 100 / 10,000 referrals (in-process)",
            [fmt_queries(r, "get_profile") for r in results],
            "constant",
        ),
        (
            "SQL per `list_referrals(limit=50)`, 0 / 100 / 10,000 referrals (in-process)",
            [fmt_queries(r, "list_referrals") for r in results],
            "constant",
        ),
        (
            "memory of the server's process tree, idle after start",
            [fmt_memory(r, "idle_start") for r in results],
            "",
        ),
        ("memory, peak during the 1000 bursts", [fmt_memory(r, "burst_peak") for r in results], ""),
        ("memory, idle after all runs", [fmt_memory(r, "idle_end") for r in results], ""),
    ]
    out = [BEGIN_MARK, ""]
    out.append(f"Measured {info['date']} on commit `{info['commit']}` by `make bench`.")
    out.append("")
    out.append(
        f"**Machine**: {info['nproc']} CPUs ({info['cpu']}), {info['ram']} RAM, Linux {info['kernel']}; "
        f"Python {info['python']}, SQLite {info['sqlite']}, PostgreSQL {info.get('postgresql', '?')}, "
        f"{info['wrk']}. Server and load generators share the CPUs; load average (1/5/15 min) "
        + "; ".join(
            f"{names.get(r.name, r.name)} run: {r.load.get('start', '?')} at start, "
            f"{r.load.get('end', '?')} at the end"
            for r in results
        )
        + "."
    )
    out.append("")
    out.append(
        f"Each figure is the better of {REPEATS} runs (bursts: the shorter wall time; {c} connections: the "
        f"higher req/s, with that run's latencies; 1 connection: the lower p50). wrk runs last {WRK_DURATION} s."
    )
    out.append("")
    out.append("| measurement | " + " | ".join(heads) + " | target |")
    out.append("|---|" + "---|" * len(heads) + "---|")
    for label, cells, target in rows:
        out.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")
    if floor is not None:
        out.append("")
        out.append(
            "Calibration, the floor of the burst target on this machine: a bare FastAPI endpoint with the same "
            "1–2 s sleep and no database or Reflex (bench/floor_app.py), granian with one worker, 1000 "
            f"concurrent from distinct IPs: {fmt_burst(floor, '1000:distinct')}."
        )
    for r in all_results:
        if r.error:
            out.append("")
            out.append(f"**{names.get(r.name, r.name)} failed**: `{r.error.splitlines()[0]}`")
    out.append("")
    out.append("<details><summary>Every run</summary>")
    out.append("")
    out.append("| backend | measurement | run | figures |")
    out.append("|---|---|---|---|")
    for r in all_results:
        for key, runs in r.bursts.items():
            for i, run in enumerate(runs, 1):
                peak = run.get("memory_peak")
                mem = f"; peak RSS {peak['rss_mib']:.0f} MiB" if peak else ""
                out.append(
                    f"| {r.name} | burst {key} | {i} | {run['wall_s']:.2f} s, {run['errors']} errors, "
                    f"latency p50 {run['p50_s']:.2f} / max {run['max_s']:.2f} s{mem} |"
                )
        for key, runs in r.wrk.items():
            for i, run in enumerate(runs, 1):
                kinds = ", ".join(f"{kind} {n}" for kind, n in run["errors"].items() if n)
                errors = f"{sum(run['errors'].values())}" + (f" ({kinds})" if kinds else "")
                out.append(
                    f"| {r.name} | wrk {key} | {i} | {run['rps']:.0f} req/s, {run['requests']} requests, "
                    f"p50 {run['p50_ms']:.1f} / p90 {run['p90_ms']:.1f} / p99 {run['p99_ms']:.1f} / "
                    f"max {run['max_ms']:.1f} ms, {errors} errors, {run['reused']} reused codes |"
                )
        for key, q in r.queries.items():
            sql = "; ".join(q["sql"])
            out.append(
                f"| {r.name} | {key} referrals | — | {q['statements']} statements, in-process p50 {q['p50_ms']:.2f}"
                f" / p99 {q['p99_ms']:.2f} ms: `{sql}` |"
            )
    out.append("")
    out.append("</details>")
    out.append("")
    out.append(
        "**Command lines**, from the repository root; `make bench` runs them all. `$TMP` is a temporary "
        "directory, `$PORT` a free port per server, `$START` the first unused phone index, `$TOKEN` / "
        "`$TOKEN_10K` tokens of a user without referrals / with 10,000 (from /auth/code + /auth/token), "
        "`$PAIRS` a file of pre-issued phone/code pairs, `$USER_IDS` the seeded users' ids:"
    )
    out.append("")
    out.append("```")
    out.extend(COMMANDS)
    out.append("```")
    out.append("")
    out.append(END_MARK)
    return "\n".join(out)


def write_report(path: Path, generated: str) -> None:
    text = path.read_text() if path.exists() else ""
    if BEGIN_MARK in text and END_MARK in text:
        head, rest = text.split(BEGIN_MARK, 1)
        _, tail = rest.split(END_MARK, 1)
        text = head + generated + tail
    else:
        text = (text.rstrip() + "\n\n" if text else "# Benchmarks\n\n") + generated + "\n"
    path.write_text(text)


def main() -> int:
    signal.signal(signal.SIGTERM, _sigterm)
    if shutil.which("wrk") is None:
        log("wrk is missing: apt-get install wrk (make bench installs it when run as root with apt)")
        return 1
    info = machine()
    results: list[BackendResult] = []
    with tempfile.TemporaryDirectory(prefix="referral_app-bench.") as tmp:
        work_dir = Path(tmp)
        PLACEHOLDERS[tmp] = "$TMP"
        floor = BackendResult(name="floor", database_url="")
        run_floor(work_dir, floor)
        results.append(floor)
        for backend in BACKENDS:
            log(f"=== {backend} ===")
            if backend == "sqlite":
                url = f"sqlite:///{work_dir / 'bench.db'}"
            elif backend == "postgresql":
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
            results.append(bench_backend(backend, url, work_dir))
    generated = report(info, results)
    print(generated)
    if OUT:
        write_report(Path(OUT), generated)
        log(f"wrote {OUT}")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

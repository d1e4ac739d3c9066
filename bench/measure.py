"""The measurements, each in a process of its own so the load generator does not share the GIL with bench:
send-code bursts (bench/burst.py), wrk runs (bench/wrk/api.lua), the server's memory (psutil), and the
server's own counters (its /metrics) set against what bench counted; and whether a peer answers as the app does."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.commands import record
from bench.config import PYTHON, REPEATS, ROOT, WRK_DURATION, WRK_SCRIPT, log
from bench.server import AppServer


@dataclass
class BackendResult:
    """Every run's figures for one backend (or the calibration floor), keyed by measurement."""

    name: str
    database_url: str
    error: str | None = None
    bursts: dict[str, list[dict]] = field(default_factory=dict)
    wrk: dict[str, list[dict]] = field(default_factory=dict)
    queries: dict[str, dict] = field(default_factory=dict)
    memory: dict[str, dict] = field(default_factory=dict)
    load: dict[str, str] = field(default_factory=dict)
    flood: dict[str, float] = field(default_factory=dict)
    metrics: list[dict] = field(default_factory=list)
    peer_error: str | None = None  # why the Django/DRF peer's figures are not reported


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
    """The peak of `memory` while the `with` block runs, sampled in a thread."""

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


# --- the server's metrics --------------------------------------------------------------------------------

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(server: AppServer) -> Samples:
    """Every sample of the server's /metrics (all its workers), keyed by name and sorted labels."""
    from prometheus_client.parser import text_string_to_metric_families

    record(["curl", "-s", server.metrics_url.replace(str(server.metrics_port), "$METRICS_PORT")])
    with urllib.request.urlopen(server.metrics_url, timeout=30) as response:  # noqa: S310 (127.0.0.1)
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def check_counter(
    result: BackendResult,
    what: str,
    before: Samples,
    after: Samples,
    sample: str,
    expected: tuple[int, int],
    **labels: str,
) -> None:
    """Keep how much `sample` (with `labels`) moved between two scrapes beside what bench counted: `expected`
    is (least, most), the most counting requests still in flight when a load generator stopped."""
    key = (sample, tuple(sorted(labels.items())))
    moved = after.get(key, 0.0) - before.get(key, 0.0)
    low, high = expected
    shown = sample + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
    result.metrics.append({"what": what, "sample": shown, "moved": moved, "low": low, "high": high})
    verdict = "matches" if low <= moved <= high else "DOES NOT MATCH"
    log(f"metrics: {shown} moved {moved:.0f} for {what}; bench counted {low}..{high}: {verdict}")


def wrk_answered(result: BackendResult, *keys: str) -> tuple[int, int]:
    """(answers wrk counted as 2xx, requests wrk sent) over every run of `keys`."""
    runs = [run for key in keys for run in result.wrk.get(key, [])]
    ok = sum(run["requests"] - sum(run["errors"].values()) for run in runs)
    return ok, sum(run["sent"] for run in runs)


# --- requests --------------------------------------------------------------------------------------------


def http_json(method: str, url: str, body: dict | None = None, token: str | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (http://127.0.0.1 only)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read() or b"null")


def http_get(url: str, token: str | None) -> tuple[int, object]:
    """(status, JSON body) of a GET with `token` as the bearer token (none when None); the body None on errors,
    whose bodies differ by framework (ours: detail and code; DRF: detail)."""
    request = urllib.request.Request(url)  # noqa: S310 (http://127.0.0.1 only)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


def json_shape(value: object) -> object:
    """A JSON value's keys and value types, nested (a list by its first item): what two answers share when
    they hold the same fields."""
    if isinstance(value, dict):
        return {key: json_shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_shape(item) for item in value[:1]]
    return type(value).__name__


def answers_differ(ours: AppServer, peer: AppServer, path: str, token: str) -> str | None:
    """None when `peer` answers GET `path` as `ours` does: the same status with the token, a wrong token and
    none, and with the token a body of the same shape. Otherwise what differs."""
    cases = (("the token", token), ("a wrong token", "rfa_" + "x" * 43), ("no token", None))
    for what, sent in cases:
        for server in (ours, peer):
            shown = "$TOKEN" if sent == token else sent
            header = ["-H", f"'Authorization: Bearer {shown}'"] if sent is not None else []
            record(["curl", "-s", "-w", "'%{http_code}'", *header, server.base_url + path])
        our_status, our_body = http_get(ours.base_url + path, sent)
        peer_status, peer_body = http_get(peer.base_url + path, sent)
        if our_status != peer_status:
            return f"with {what}: ours {our_status}, the peer's {peer_status}"
        if our_status == 200 and json_shape(our_body) != json_shape(peer_body):
            return f"with {what}: body {json_shape(our_body)}, the peer's {json_shape(peer_body)}"
        same = (
            ("the same body" if our_body == peer_body else "bodies of the same fields")
            if our_status == 200
            else ""
        )
        log(f"with {what}, ours and the peer answer {our_status} {same}".rstrip())
    return None


def login(server: AppServer, phone: str) -> str:
    """A token for `phone`, through /auth/code and /auth/token (demo mode returns the code)."""
    sent = http_json("POST", server.base_url + "/api/v1/auth/code", {"phone": phone})
    issued = http_json(
        "POST", server.base_url + "/api/v1/auth/token", {"phone": phone, "code": sent["debug_code"]}
    )
    return issued["access_token"]


_phone_counter = 0  # every burst uses new phones: a phone's resend and hourly limits must not interfere


def run_burst(server: AppServer, n: int, ips: str, result: BackendResult, sample_memory: bool) -> None:
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
    server: AppServer,
    key: str,
    path: str,
    connections: int,
    result: BackendResult,
    *,
    token: str | None = None,
    pairs: Path | None = None,
    mode: str | None = None,
    extra_env: dict[str, str] | None = None,
    duration: int = WRK_DURATION,
) -> dict:
    """One wrk run: GETs with `token`, or (with `pairs`) POST /auth/token spending each pre-issued code once,
    or another mode of bench/wrk/api.lua with its `extra_env`. Returns the run's figures (also kept)."""
    threads = 1 if connections < 2 else 2
    mode = mode or ("verify" if pairs else "get")
    env_shown = {"BENCH_MODE": mode, "BENCH_THREADS": str(threads), **(extra_env or {})}
    if token:
        env_shown["BENCH_TOKEN"] = "$TOKEN_10K" if key.endswith("_10k") else "$TOKEN"
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
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
    return figures

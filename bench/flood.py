"""The refusal flood: refused requests must not slow anyone else's sign-in.

Against a running benchmark server: logins (POST /api/v1/auth/token with pre-issued single-use codes, one
connection) measured alone, then again while a flood of refused requests runs beside them: send-code for a
phone inside its resend cooldown and wrong codes for a locked phone (bench/wrk/api.lua's flood mode, from
random addresses so that no per-requester limit answers first), and again beside a control flood of equally
many connections sending cheap requests that are not refusals (the same paths with bodies the schema refuses,
422): an unthrottled wrk flood takes the CPUs whatever it sends, so the refusals are judged against it.
Reports the three p50s, their ratios to the p50 alone, both floods' throughput, and the audit rows the flood
wrote per refusal during the flood (audit.record_refusal writes the first of each kind at once, then at most one
row per kind per REFUSAL_AUDIT_INTERVAL_SECONDS per process, once REFUSALS_PER_AUDIT_ROW or more have come,
carrying their count; counts still pending when the flood ends are written later, at the latest when the
server stops, and are not in this figure). Run on its own with BENCH_ONLY=flood (bench/run.py)."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.commands import PLACEHOLDERS, run_python
from bench.config import WRK_CONNECTIONS, WRK_DURATION, log
from bench.measure import BackendResult, run_wrk
from bench.server import AppServer
from referral_app.core.config import Settings
from referral_app.services.refusal_cache import withdraw_window

SENT_PHONE = "+79175550001"  # gets one code, then every send is inside its resend cooldown


def _post_status(url: str, body: dict, client_ip: str) -> int:
    """POST from `client_ip` (X-Forwarded-For, believed from loopback): the set-up's wrong guesses must not
    spend the per-requester failure budget of 127.0.0.1, which the measured logins come from."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")  # noqa: S310
    request.add_header("Content-Type", "application/json")
    request.add_header("X-Forwarded-For", client_ip)
    try:
        with urllib.request.urlopen(request, timeout=30):  # noqa: S310 (http://127.0.0.1 only)
            return 200
    except urllib.error.HTTPError as refused:
        return refused.code


def _seed_pair(
    server: AppServer, env: dict[str, str], shown_env: dict[str, str], start: int, out: Path
) -> tuple[str, str]:
    run_python(
        "bench.seed",
        "codes",
        "--count",
        "1",
        "--start",
        str(start),
        "--out",
        str(out),
        env=env,
        shown_env=shown_env,
    )
    phone, code = out.read_text().split()
    return phone, code


def _lock_phone(
    server: AppServer, env: dict[str, str], shown_env: dict[str, str], start: int, work_dir: Path
) -> tuple[str, str]:
    """A phone locked by wrong guesses: two live codes (a code is burned after CODE_MAX_ATTEMPTS wrong ones),
    wrong guesses until the phone answers 429. Returns the phone and a wrong code."""
    url = server.base_url + "/api/v1/auth/token"
    for _ in range(10):
        phone, code = _seed_pair(server, env, shown_env, start, work_dir / "locked-pair.txt")
        wrong = f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"
        for guess in range(10):
            status = _post_status(url, {"phone": phone, "code": wrong}, f"10.255.{guess}.1")
            if status == 429:
                return phone, wrong
            if status != 400:
                raise RuntimeError(f"locking the flood's phone: unexpected answer {status}")
    raise RuntimeError("the flood's phone did not lock")


def _seed_pairs(env: dict[str, str], shown_env: dict[str, str], path: Path, start: int) -> Path:
    PLACEHOLDERS[str(path)] = "$PAIRS"
    run_python(
        "bench.seed",
        "codes",
        "--count",
        "4000",
        "--start",
        str(start),
        "--out",
        str(path),
        env=env,
        shown_env=shown_env,
    )
    return path


def _beside(server: AppServer, result: BackendResult, key: str, pairs: Path, mode: str, env: dict) -> tuple:
    """Logins at one connection while wrk at WRK_CONNECTIONS sends `mode`'s requests; both runs' figures."""
    flood: dict = {}
    flooding = threading.Thread(
        target=lambda: flood.update(
            run_wrk(
                server,
                mode,
                "/api/v1/auth/token",
                WRK_CONNECTIONS,
                result,
                mode=mode,
                extra_env=env,
                duration=WRK_DURATION + 2,
            )
        )
    )
    flooding.start()
    beside = run_wrk(server, key, "/api/v1/auth/token", 1, result, pairs=pairs)
    flooding.join()
    return beside, flood


def run_flood(server: AppServer, result: BackendResult, work_dir: Path, pool_start: int) -> None:
    env = server.env()
    shown_env = {"DATABASE_URL": server.database_url, "CODE_TTL_SECONDS": env.get("CODE_TTL_SECONDS", "")}
    # The cooldown phone's code first: its refusals are cached only once the code is settled (past the time
    # in which a failed SMS may still withdraw it), so the floods run between that and the cooldown's end.
    if _post_status(server.base_url + "/api/v1/auth/code", {"phone": SENT_PHONE}, "10.254.0.1") != 200:
        raise RuntimeError("the flood's send-code phone did not get its first code")
    sent_at = time.monotonic()
    locked_phone, wrong_code = _lock_phone(server, env, shown_env, pool_start, work_dir)
    pairs = [
        _seed_pairs(env, shown_env, work_dir / f"pairs-{result.name}-flood-{run}.txt", pool_start + 1 + n * 4000)
        for n, run in enumerate(("alone", "flood", "control"))
    ]
    settled = withdraw_window(Settings(_env_file=None)).total_seconds() + 1
    time.sleep(max(0.0, settled - (time.monotonic() - sent_at)))
    flood_started = time.monotonic() - sent_at
    alone = run_wrk(server, "login_alone", "/api/v1/auth/token", 1, result, pairs=pairs[0])
    before = json.loads(
        run_python("bench.seed", "refusal-rows", env=env, shown_env={"DATABASE_URL": server.database_url})
    )
    flood_env = {
        "BENCH_FLOOD_SENT_PHONE": SENT_PHONE,
        "BENCH_FLOOD_LOCKED_PHONE": locked_phone,
        "BENCH_FLOOD_WRONG_CODE": wrong_code,
    }
    beside, flood = _beside(server, result, "login_beside_flood", pairs[1], "flood", flood_env)
    after = json.loads(
        run_python("bench.seed", "refusal-rows", env=env, shown_env={"DATABASE_URL": server.database_url})
    )
    control_beside, control = _beside(server, result, "login_beside_control", pairs[2], "control", {})
    flood_ended = time.monotonic() - sent_at
    refusals = flood["errors"]["status"]
    alone_p50 = alone["p50_ms"]
    result.flood = {
        "login_p50_alone_ms": alone_p50,
        "login_p50_flood_ms": beside["p50_ms"],
        "login_p50_control_ms": control_beside["p50_ms"],
        "ratio": round(beside["p50_ms"] / alone_p50, 2) if alone_p50 else 0.0,
        "control_ratio": round(control_beside["p50_ms"] / alone_p50, 2) if alone_p50 else 0.0,
        "flood_requests": flood["requests"],
        "refusals": refusals,
        "flood_rps": flood["rps"],
        "control_requests": control["requests"],
        "control_rejected": control["errors"]["status"],
        "control_rps": control["rps"],
        "audit_rows": after - before,
        "rows_per_refusal": round((after - before) / refusals, 4) if refusals else 0.0,
        # Seconds after the cooldown phone's code: the cooldown (60 s) must outlast the floods.
        "cooldown_code_age_s": [round(flood_started, 1), round(flood_ended, 1)],
    }
    log(f"refusal flood: {result.flood}")

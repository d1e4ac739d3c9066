"""The refusal flood (issue 12 part 6): refused requests must not slow anyone else's sign-in.

Against a running benchmark server: logins (POST /api/v1/auth/token with pre-issued single-use codes, one
connection) measured alone, then again while a flood of refused requests runs beside them: send-code for a
phone inside its resend cooldown and wrong codes for a locked phone (bench/wrk/api.lua's flood mode, from
random addresses so that no per-requester limit answers first). Reports both p50s, their ratio, and the
audit rows the flood wrote per refusal (audit.record_refusal writes one per REFUSALS_PER_AUDIT_ROW
refusals of a kind per process, plus the first of each kind)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

from bench.commands import PLACEHOLDERS, run_python
from bench.config import WRK_CONNECTIONS, WRK_DURATION, log
from bench.measure import BackendResult, run_wrk
from bench.server import AppServer

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


def run_flood(server: AppServer, result: BackendResult, work_dir: Path, pool_start: int) -> None:
    env = server.env()
    shown_env = {"DATABASE_URL": server.database_url, "CODE_TTL_SECONDS": env.get("CODE_TTL_SECONDS", "")}
    locked_phone, wrong_code = _lock_phone(server, env, shown_env, pool_start, work_dir)
    if _post_status(server.base_url + "/api/v1/auth/code", {"phone": SENT_PHONE}, "10.254.0.1") != 200:
        raise RuntimeError("the flood's send-code phone did not get its first code")
    pairs = []
    for run in ("alone", "flood"):
        path = work_dir / f"pairs-{result.name}-flood-{run}.txt"
        PLACEHOLDERS[str(path)] = "$PAIRS"
        run_python(
            "bench.seed",
            "codes",
            "--count",
            "4000",
            "--start",
            str(pool_start + 1 + len(pairs) * 4000),
            "--out",
            str(path),
            env=env,
            shown_env=shown_env,
        )
        pairs.append(path)
    alone = run_wrk(server, "login_alone", "/api/v1/auth/token", 1, result, pairs=pairs[0])
    before = json.loads(
        run_python("bench.seed", "refusal-rows", env=env, shown_env={"DATABASE_URL": server.database_url})
    )
    flood_env = {
        "BENCH_FLOOD_SENT_PHONE": SENT_PHONE,
        "BENCH_FLOOD_LOCKED_PHONE": locked_phone,
        "BENCH_FLOOD_WRONG_CODE": wrong_code,
    }
    flood: dict = {}
    flooding = threading.Thread(
        target=lambda: flood.update(
            run_wrk(
                server,
                "flood",
                "/api/v1/auth/token",
                WRK_CONNECTIONS,
                result,
                mode="flood",
                extra_env=flood_env,
                duration=WRK_DURATION + 2,
            )
        )
    )
    flooding.start()
    beside = run_wrk(server, "login_beside_flood", "/api/v1/auth/token", 1, result, pairs=pairs[1])
    flooding.join()
    after = json.loads(
        run_python("bench.seed", "refusal-rows", env=env, shown_env={"DATABASE_URL": server.database_url})
    )
    refusals = flood["errors"]["status"]
    result.flood = {
        "login_p50_alone_ms": alone["p50_ms"],
        "login_p50_flood_ms": beside["p50_ms"],
        "ratio": round(beside["p50_ms"] / alone["p50_ms"], 2) if alone["p50_ms"] else 0.0,
        "flood_requests": flood["requests"],
        "refusals": refusals,
        "flood_rps": flood["rps"],
        "audit_rows": after - before,
        "rows_per_refusal": round((after - before) / refusals, 4) if refusals else 0.0,
    }
    log(f"refusal flood: {result.flood}")

"""The Markdown report: a table of the best run of each measurement per backend, every run, and the command
lines; written between the GENERATED markers of docs/benchmarks.md (the hand-written text around stays)."""

from __future__ import annotations

from pathlib import Path

from bench.commands import COMMANDS
from bench.config import REFERRAL_COUNTS, REPEATS, WRK_CONNECTIONS, WRK_DURATION
from bench.measure import BackendResult

BEGIN_MARK = "<!-- BEGIN GENERATED: make bench writes everything down to the END marker -->"
END_MARK = "<!-- END GENERATED -->"


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


NAMES = {
    "sqlite": "SQLite",
    "postgresql": "PostgreSQL",
    "postgresql+redis": "PostgreSQL, 2 workers + Redis",
    "floor": "calibration",
}


def _floor_wrk(
    floor: BackendResult | None, connections: int, name: str = "floor", beside: BackendResult | None = None
) -> dict | None:
    """The floor's best run: the one measured beside a backend's own runs when there is one, else the
    calibration's."""
    for source in (beside, floor):
        runs = source.wrk.get(f"{name}@c{connections}") if source else None
        if runs:
            return best_wrk(runs, connections == 1)
    return None


def fmt_rps_ratio(result: BackendResult, key: str, floor: BackendResult | None) -> str:
    """Throughput as its share of the bare FastAPI route measured in the same run (the target's divisor), then
    of the bare ASGI GET."""
    runs = result.wrk.get(key)
    if not runs:
        return "—"
    best = best_wrk(runs, False)
    shares: list[str] = []
    for name, what in (("fastapi_floor", "FastAPI route"), ("floor", "bare ASGI")):
        ref = _floor_wrk(floor, best["connections"], name, beside=result)
        if ref and ref["rps"]:
            share = f"{100 * best['rps'] / ref['rps']:.1f} %"
            shares.append(f"**{share}** of the {what}" if not shares else f"{share} of the {what}")
    errors = sum(best["errors"].values())
    err = f", {errors} errors" if errors else ""
    return "; ".join([*shares, f"{best['rps']:.0f} req/s, p50 {best['p50_ms']:.1f} ms{err}"])


def fmt_p50_ratio(result: BackendResult, key: str, floor: BackendResult | None) -> str:
    """p50 at one connection, and how many times the floor GET's p50 at one connection it is."""
    runs = result.wrk.get(key)
    if not runs:
        return "—"
    best = best_wrk(runs, True)
    ref = _floor_wrk(floor, 1)
    times = f" ({best['p50_ms'] / ref['p50_ms']:.1f} × floor GET p50)" if ref and ref["p50_ms"] else ""
    errors = sum(best["errors"].values())
    err = f", {errors} errors" if errors else ""
    return f"p50 **{best['p50_ms']:.1f}** / p99 {best['p99_ms']:.1f} ms{times}{err}"


def fmt_burst_ratio(result: BackendResult, key: str, floor: BackendResult | None) -> str:
    runs = result.bursts.get(key)
    ref_runs = floor.bursts.get("1000:distinct") if floor else None
    if not runs:
        return "—"
    best = best_burst(runs)
    if not ref_runs:
        return fmt_burst(result, key)
    ref = best_burst(ref_runs)
    return f"**{best['wall_s'] / ref['wall_s']:.2f} × floor**; " + fmt_burst(result, key)


def fmt_flood(result: BackendResult) -> str:
    f = result.flood
    if not f:
        return "—"
    rows = (
        f"{f['refusals']} refusals wrote {f['audit_rows']} audit rows: **{f['rows_per_refusal']:.3f} per refusal**"
    )
    if "login_p50_control_ms" not in f:  # a result from before the control flood
        return (
            f"login p50 {f['login_p50_alone_ms']:.1f} → {f['login_p50_flood_ms']:.1f} ms beside the flood "
            f"(**{f['ratio']:.2f} ×**; {f['flood_rps']:.0f} refusals/s); {rows}"
        )
    return (
        f"login p50 alone / beside the refusal flood / beside the control flood: "
        f"**{f['login_p50_alone_ms']:.1f} / {f['login_p50_flood_ms']:.1f} / {f['login_p50_control_ms']:.1f} ms** "
        f"(**{f['ratio']:.2f} ×** / **{f['control_ratio']:.2f} ×**); floods of {f['flood_rps']:.0f} refusals/s "
        f"and {f['control_rps']:.0f} 422s/s; {rows}"
    )


def fmt_peer_ratio(result: BackendResult) -> str:
    """Our GET /api/v1/profile req/s ÷ the Django/DRF peer's (bench/peer_django/) on the same database, token and
    connections, with both figures; then both p50s at one connection."""
    if result.peer_error:
        return "no figure: " + result.peer_error.splitlines()[0].replace("|", "\\|")
    c = WRK_CONNECTIONS
    ours, peer = result.wrk.get(f"profile@c{c}"), result.wrk.get(f"peer_profile@c{c}")
    if not ours or not peer:
        return "—"
    best_ours, best_peer = best_wrk(ours, False), best_wrk(peer, False)
    peer_errors = sum(best_peer["errors"].values())
    if peer_errors or not best_peer["rps"]:
        return f"no figure: the peer's best run had {peer_errors} errors"
    cell = (
        f"**{best_ours['rps'] / best_peer['rps']:.1f} ×**: ours {best_ours['rps']:.0f} ÷ the peer's "
        f"{best_peer['rps']:.0f} req/s ({c} conn.)"
    )
    ours_1, peer_1 = result.wrk.get("profile@c1"), result.wrk.get("peer_profile@c1")
    if ours_1 and peer_1:
        cell += (
            f"; 1 conn. p50 {best_wrk(ours_1, True)['p50_ms']:.1f} ms, the peer's "
            f"{best_wrk(peer_1, True)['p50_ms']:.1f} ms"
        )
        # A sync worker answers one connection at a time, so it may do better at 1 connection than at 16 (less
        # load generator beside it): the ratio to its best figure too, the stricter one.
        peer_best_1 = best_wrk(peer_1, False)
        if not sum(peer_best_1["errors"].values()) and peer_best_1["rps"] > best_peer["rps"]:
            cell += (
                f"; to the peer's best, {peer_best_1['rps']:.0f} req/s at 1 conn.: "
                f"**{best_ours['rps'] / peer_best_1['rps']:.1f} ×**"
            )
    return cell


def ratio_rows(results: list[BackendResult], floor: BackendResult | None) -> list[tuple[str, list[str], str]]:
    """The targets, each figure against the floors measured in the same run."""
    c = WRK_CONNECTIONS
    return [
        (
            f"GET /api/v1/profile (no referrals), {c} conn.",
            [fmt_rps_ratio(r, f"profile@c{c}", floor) for r in results],
            "≥ 20 % of the FastAPI route on SQLite, ≥ 10 % on PostgreSQL",
        ),
        (
            "GET /api/v1/profile vs the Django/DRF peer (1 gunicorn sync worker)",
            [fmt_peer_ratio(r) for r in results],
            "≥ 4 × (must not shrink)",
        ),
        (
            f"GET /api/health, {c} conn.",
            [fmt_rps_ratio(r, f"health@c{c}", floor) for r in results],
            "≥ 60 % of the FastAPI route",
        ),
        (
            f"GET /api/v1/profile/referrals?limit=50, 10,000 referrals, {c} conn.",
            [fmt_rps_ratio(r, f"referrals_10k@c{c}", floor) for r in results],
            "",
        ),
        (
            "POST /api/v1/auth/token (valid single-use codes), 1 conn.",
            [fmt_p50_ratio(r, "verify@c1", floor) for r in results],
            "p50 ≤ 5 ms (SQLite)",
        ),
        (
            "GET /api/v1/profile, 10,000 referrals, 1 conn.",
            [fmt_p50_ratio(r, "profile_10k@c1", floor) for r in results],
            "p50 ≤ 20 ms",
        ),
        (
            "send-code burst, 1000 concurrent, distinct IPs",
            [fmt_burst_ratio(r, "1000:distinct", floor) for r in results],
            "≤ 2.0 × floor",
        ),
        (
            f"refusal flood ({c} conn.: sends in cooldown, verifies on a locked phone) and control flood "
            f"({c} conn. of 422s) beside logins (1 conn.)",
            [fmt_flood(r) for r in results],
            "≤ 0.1 audit rows per refusal; refusal flood no worse than the control flood",
        ),
    ]


def summary_rows(results: list[BackendResult]) -> list[tuple[str, list[str], str]]:
    """(measurement, the best run's figures per backend, target) for the main table."""
    c = WRK_CONNECTIONS
    return [
        ("send-code burst, 100 concurrent, distinct IPs", [fmt_burst(r, "100:distinct") for r in results], ""),
        (
            "send-code burst, 1000 concurrent, distinct IPs",
            [fmt_burst(r, "1000:distinct") for r in results],
            "",
        ),
        ("send-code burst, 1000 concurrent, one client IP", [fmt_burst(r, "1000:same") for r in results], ""),
        (f"GET /api/health, {c} conn.", [fmt_wrk(r, f"health@c{c}") for r in results], ""),
        ("GET /api/health, 1 conn.", [fmt_wrk(r, "health@c1", True) for r in results], ""),
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
            "constant (one fewer without referrals)",
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


def metrics_rows(results: list[BackendResult]) -> list[str]:
    """The server's counters (its /metrics, scraped before and after) beside what bench counted."""
    out = []
    for r in results:
        for m in r.metrics:
            counted = f"{m['low']}" if m["low"] == m["high"] else f"{m['low']} – {m['high']}"
            verdict = "yes" if m["low"] <= m["moved"] <= m["high"] else "**no**"
            out.append(
                f"| {NAMES.get(r.name, r.name)} | {m['what']} | `{m['sample']}` | +{m['moved']:.0f} | {counted} | "
                f"{verdict} |"
            )
    return out


def every_run_rows(all_results: list[BackendResult]) -> list[str]:
    """One table row per run, for the folded "Every run" table."""
    out = []
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
    return out


def report(info: dict[str, str], all_results: list[BackendResult]) -> str:
    """The GENERATED block of docs/benchmarks.md, markers included."""
    floor = next((r for r in all_results if r.name == "floor"), None)
    results = [r for r in all_results if r.name != "floor"]
    c = WRK_CONNECTIONS
    heads = [NAMES.get(r.name, r.name) for r in results]
    out = [BEGIN_MARK, ""]
    out.append(f"Measured {info['date']} on commit `{info['commit']}` by `make bench`.")
    out.append("")
    out.append(
        f"**Machine**: {info['nproc']} CPUs ({info['cpu']}), {info['ram']} RAM, Linux {info['kernel']}; "
        f"Python {info['python']}, SQLite {info['sqlite']}, PostgreSQL {info.get('postgresql', '?')}, "
        f"{info['wrk']}. Server and load generators share the CPUs; load average (1/5/15 min) "
        + "; ".join(
            f"{NAMES.get(r.name, r.name)} run: {r.load.get('start', '?')} at start, "
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
    floor_c, floor_1 = _floor_wrk(floor, c), _floor_wrk(floor, 1)
    if floor_c and floor_1:
        fastapi_runs = floor.wrk.get(f"fastapi_floor@c{c}") if floor else None
        fastapi = max(fastapi_runs, key=lambda run: run["rps"]) if fastapi_runs else None
        bare_fastapi = (
            f" A bare FastAPI GET route (a response model, no middleware of ours), {c} conn.: "
            f"**{fastapi['rps']:.0f} req/s** ({100 * fastapi['rps'] / floor_c['rps']:.1f} % of the bare ASGI GET). "
            "The targets below divide by the same route measured again beside each backend, just before each of "
            "its health and profile runs (the `fastapi_floor` rows of the runs' list), where it was."
            if fastapi and floor_c["rps"]
            else ""
        )
        out.append(
            f"**Floors** (bench/floor_app.py, under the same granian, one worker): a bare ASGI GET, {c} conn. "
            f"**{floor_c['rps']:.0f} req/s**; 1 conn. p50 **{floor_1['p50_ms']:.2f} ms**; the send-code "
            f"calibration (bare FastAPI, same 1–2 s sleep), 1000 concurrent: {fmt_burst(floor, '1000:distinct')}."
            + bare_fastapi
        )
        out.append("")
    if any(r.peer_error or "peer_profile@c1" in r.wrk for r in results):
        out.append(
            "**Peer**: the same GET /api/v1/profile written as a Django shop would (bench/peer_django/: Django REST "
            "framework, unmanaged models over our tables, a bearer-token authentication class), under gunicorn with "
            "one sync worker, on the database and with the token just measured, after checking that it answers as "
            "ours does (the same status with the token, a wrong one and none; the same fields)."
        )
        out.append("")
    out.append("| against the floor | " + " | ".join(heads) + " | target |")
    out.append("|---|" + "---|" * len(heads) + "---|")
    for label, cells, target in ratio_rows(results, floor):
        out.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")
    out.append("")
    out.append("| measurement | " + " | ".join(heads) + " | target |")
    out.append("|---|" + "---|" * len(heads) + "---|")
    for label, cells, target in summary_rows(results):
        out.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")
    metrics = metrics_rows(results)
    if metrics:
        out.append("")
        out.append(
            "**The server's own counters**: its `/metrics` (METRICS_PORT, every worker summed) scraped before and "
            "after the bursts and the wrk runs, beside what bench counted (wrk's 2xx answers up to the requests it "
            "sent: a request in flight when wrk stops may still be answered)."
        )
        out.append("")
        out.append("| backend | what | sample | moved | bench counted | matches |")
        out.append("|---|---|---|---|---|---|")
        out.extend(metrics)
    for r in all_results:
        if r.error:
            out.append("")
            out.append(f"**{NAMES.get(r.name, r.name)} failed**: `{r.error.splitlines()[0]}`")
    out.append("")
    out.append("<details><summary>Every run</summary>")
    out.append("")
    out.append("| backend | measurement | run | figures |")
    out.append("|---|---|---|---|")
    out.extend(every_run_rows(all_results))
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
    """Replace the GENERATED block of `path` (or append one), keeping the hand-written text around it."""
    text = path.read_text() if path.exists() else ""
    if BEGIN_MARK in text and END_MARK in text:
        head, rest = text.split(BEGIN_MARK, 1)
        _, tail = rest.split(END_MARK, 1)
        text = head + generated + tail
    else:
        text = (text.rstrip() + "\n\n" if text else "# Benchmarks\n\n") + generated + "\n"
    path.write_text(text)


def console_report(printed: str, users: int, events: int) -> str:
    """bench/console_queries.py's printed lines ("read   12.3 ms") as a Markdown table."""
    rows = []
    for line in printed.splitlines():
        name, _, rest = line.rpartition("  ")
        if line.endswith(" ms") and name.strip():
            rows.append(f"| {name.strip()} | {rest.strip()} |")
    return "\n".join(
        [
            f"### The operator's console: {users:,} users, {events:,} audit events, {users:,} SMS (PostgreSQL)",
            "",
            "Each page's reads through services/admin.py, operator check included; p50 of 7 runs.",
            "",
            "| Read | p50 |",
            "|---|---|",
            *rows,
            "",
        ]
    )

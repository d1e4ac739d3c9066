"""Sort a py-spy raw profile (`py-spy record -f raw`) of the server's worker into the layers of a request.

`python -m bench.profile_breakdown PROFILE.txt` prints, for each layer, the share of all samples in which a
frame of that layer is on the stack (inclusive, so the shares overlap and do not add up to 100 %). The
layers are the ones docs/benchmarks.md discusses; bench/run.py runs it on the profiles it records."""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

# (layer, pattern on "function (file:line)" frames). First match per layer per stack counts.
LAYERS: tuple[tuple[str, str], ...] = (
    ("FastAPI routing, dependencies, validation", r"fastapi/routing|fastapi/dependencies|fastapi/_compat"),
    (
        "response serialisation (pydantic, JSON)",
        r"serialize_response|jsonable_encoder|JSONResponse\.render|ORJSONResponse|model_dump|json/encoder|orjson",
    ),
    (
        "thread-pool hops (anyio to_thread)",
        r"anyio/to_thread|run_sync_in_worker_thread|_run_sync_endpoint|_call_in_threadpool|run_in_threadpool|contextmanager_in_threadpool",
    ),
    ("SQLAlchemy ORM (session, query building, loading)", r"sqlalchemy/orm/"),
    ("SQLAlchemy Core/engine (compile, execute, pool)", r"sqlalchemy/(engine|sql|pool)/"),
    (
        "database driver (sqlite3 / psycopg, inside execute/commit)",
        r"do_execute|do_commit|do_rollback|do_begin|psycopg/|fetchall \(sqlalchemy",
    ),
    ("token check (authenticate)", r"auth\.py:\d+\)$.*|authenticate|_active_token"),
    ("settings (get_settings)", r"get_settings"),
    ("logging", r"logging/"),
    ("event loop and granian", r"asyncio/|granian/"),
)
FRONT_LAYERS = "ASGI layers in front of FastAPI (their own time)"
_FRONT = re.compile(r"starlette/|reflex/app\.py|referral_app/referral_app\.py|referral_app/web/origins")
_COMPILED = [(name, re.compile(pattern)) for name, pattern in LAYERS]


def breakdown(path: Path) -> dict[str, float]:
    total = 0
    counts: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        samples = int(n)
        frames = stack.split(";")
        if len(frames) < 2 or frames[-1].startswith(("EpollSelector.select", "Condition.wait", "Queue.get")):
            continue  # idle: a thread without Python frames, waiting in the pool's queue or the selector
        total += samples
        # Time in the ASGI layers in front of FastAPI themselves (Reflex's Starlette app and middleware, CORS,
        # the origin guard), not in what they call: their frames without any FastAPI frame below them.
        if not any("fastapi/" in f for f in frames) and any(_FRONT.search(f) for f in frames):
            counts[FRONT_LAYERS] += samples
        for name, pattern in _COMPILED:
            if any(pattern.search(frame) for frame in frames):
                counts[name] += samples
    names = [FRONT_LAYERS, *(name for name, _ in LAYERS)]
    return {"samples": total, **{name: round(100 * counts[name] / total, 1) if total else 0.0 for name in names}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("profiles", nargs="+", type=Path)
    args = parser.parse_args()
    print(json.dumps({str(p): breakdown(p) for p in args.profiles}, indent=1))


if __name__ == "__main__":
    main()

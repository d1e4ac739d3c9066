"""SQL statements per profile request, counted in-process against the server's database (DATABASE_URL).

    python -m bench.queries --users '{"0": 5, "100": 6, "10000": 7}'   # referral count -> user id

Calls the service functions the API routes call, `users.get_profile` (GET /api/v1/profile) and
`users.list_referrals(limit=50)` (GET /api/v1/profile/referrals?limit=50), with a SQLAlchemy
`before_cursor_execute` listener on the app's engine counting every statement sent to the database
(on SQLite that includes the `BEGIN` the app emits itself; PostgreSQL's BEGIN is implicit in the driver).
Also times the calls in-process (no HTTP, no concurrency). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from sqlalchemy import event

from referral_app.core.db import get_engine, session_scope
from referral_app.services import users

CALLS = {
    "get_profile": lambda session, user_id: users.get_profile(session, user_id=user_id),
    "list_referrals": lambda session, user_id: users.list_referrals(session, user_id=user_id, limit=50),
}


def measure(user_ids: dict[str, int], repeat: int) -> dict:
    engine = get_engine()
    statements: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(" ".join(statement.split())[:60])

    result: dict[str, dict] = {}
    with session_scope() as session:
        for name, call in CALLS.items():
            for referrals, user_id in user_ids.items():
                call(session, user_id)  # warm-up: connection, compiled-statement cache
                statements.clear()
                output = call(session, user_id)
                counted = list(statements)
                timings = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    call(session, user_id)
                    timings.append((time.perf_counter() - started) * 1000)
                timings.sort()
                total = output.referrals_count if name == "get_profile" else output.total
                assert total == int(referrals), (name, referrals, total)
                result[f"{name}:{referrals}"] = {
                    "statements": len(counted),
                    "selects": sum(s.upper().startswith("SELECT") for s in counted),
                    "sql": counted,
                    "p50_ms": round(statistics.median(timings), 3),
                    "p99_ms": round(timings[min(len(timings) - 1, int(len(timings) * 0.99))], 3),
                }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="Count SQL statements per profile call.")
    parser.add_argument("--users", required=True, help="JSON object: referral count -> user id")
    parser.add_argument("--repeat", type=int, default=200, help="timed calls per case")
    args = parser.parse_args()
    print(json.dumps(measure({k: int(v) for k, v in json.loads(args.users).items()}, args.repeat)))


if __name__ == "__main__":
    main()

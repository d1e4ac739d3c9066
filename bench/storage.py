"""PostgreSQL's growth per 1,000 sign-ins: `make bench-storage` (BENCH_PG_URL's database is dropped and
recreated, as in `make bench`; BENCH_SIGN_INS, default 1000).

New users sign in through the services in-process (`login_codes.issue_code`, then `auth.login_with_code`, each
from an address of its own, so no per-address limit is met); each table's rows and size with its indexes
(`pg_total_relation_size`) before and after. Prints a Markdown table."""

from __future__ import annotations

import os
import sys

import sqlalchemy as sa
from sqlmodel import Session

from bench.config import PG_URL, log
from bench.server import fresh_postgres
from referral_app.core.config import Settings, set_settings
from referral_app.core.db import create_db_engine, migrate
from referral_app.services import auth, login_codes

SIGN_INS = int(os.environ.get("BENCH_SIGN_INS", "1000"))
TABLES = ("users", "login_codes", "auth_tokens", "devices", "audit_events", "rate_counters", "sign_in_guards")


def table_sizes(engine: sa.Engine) -> dict[str, tuple[int, int]]:
    with engine.connect() as conn:
        return {
            table: (
                int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()),  # noqa: S608
                int(conn.execute(sa.text("SELECT pg_total_relation_size(:t)"), {"t": table}).scalar_one()),
            )
            for table in TABLES
        }


def main() -> int:
    fresh_postgres(PG_URL)
    settings = Settings(
        database_url=PG_URL, demo_mode=True, sms_max_per_hour=10**6, sms_max_per_country_per_hour=10**6
    )
    set_settings(settings)
    migrate(settings)
    engine = create_db_engine(PG_URL)
    before = table_sizes(engine)
    with Session(engine) as session:
        for n in range(SIGN_INS):
            phone, address = f"+7916888{n:04d}", f"198.51.{n // 250}.{n % 250}"
            code = login_codes.issue_code(session, phone=phone, client_ip=address)
            auth.login_with_code(session, phone=phone, code=code, client_ip=address)
    after = table_sizes(engine)
    engine.dispose()
    print("| table | rows added | size added |\n|---|---|---|")
    total = 0
    for table in TABLES:
        rows, size = after[table][0] - before[table][0], after[table][1] - before[table][1]
        total += size
        print(f"| {table} | {rows:,} | {size / 1024:.0f} KiB |")
    print(f"| total, {SIGN_INS:,} sign-ins | | {total / 2**20:.1f} MiB |")
    log("storage run done")
    return 0


if __name__ == "__main__":
    sys.exit(main())

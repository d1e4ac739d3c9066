"""Seed the benchmark data straight into the server's database (DATABASE_URL), with the app's own code.

    python -m bench.seed users --referrals 0 100 10000      # JSON: {"0": {"id":…, "phone":…}, "100": …}
    python -m bench.seed codes --count 20000 --start 0 --out pairs.txt
    python -m bench.seed refusal-rows                        # JSON: audit rows of refused sends/verifies

`users`: for each N, a referrer made by the service layer (`get_or_create_user`) plus N invited users
bulk-inserted with `referrer_id` and one `invite_activated_at` per minute, newest last (what N activations
spread over time leave behind); then, on PostgreSQL, ANALYZE users.
`codes`: login codes for new phones (+7916…), written as `issue_code` writes them (HMAC under the
server's key from the database, CODE_TTL_SECONDS lifetime), and the clear "phone code" pairs to --out, so
a verify benchmark can use each pre-issued single-use code exactly once. Far faster than asking
/auth/code for each (1–2 s of simulated SMS each, and on PostgreSQL ~6 ms of commits).
"""

from __future__ import annotations

import argparse
import json
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import col, select

from referral_app.core.clock import utcnow
from referral_app.core.config import get_settings
from referral_app.core.db import session_scope, transaction
from referral_app.models import AuditEvent, LoginCode, User
from referral_app.services import security
from referral_app.services.audit import Event
from referral_app.services.server_keys import code_hmac_key
from referral_app.services.users import get_or_create_user, new_invite_code

CHUNK = 2000


def seed_users(counts: list[int]) -> dict[str, dict]:
    settings = get_settings()
    result: dict[str, dict] = {}
    # Read-then-write transactions are the app's write transactions (BEGIN IMMEDIATE on SQLite): a plain
    # deferred one that has read cannot take SQLite's write lock once the server has written meanwhile
    # ("database is locked" at once, no busy wait).
    with session_scope() as session:
        next_phone = 0
        for index, count in enumerate(counts):
            with transaction(session, "bench:seed"):
                taken = set(session.exec(select(User.invite_code)).all())
                referrer, _ = get_or_create_user(session, phone=f"+79150{index:06d}", settings=settings)
                taken.add(referrer.invite_code)
                start = utcnow() - timedelta(minutes=count + 1)
                rows = []
                for i in range(count):
                    code = new_invite_code(settings)
                    while code in taken:
                        code = new_invite_code(settings)
                    taken.add(code)
                    joined = start + timedelta(minutes=i)
                    rows.append(
                        {
                            "phone": f"+7914{next_phone:07d}",
                            "invite_code": code,
                            "referrer_id": referrer.id,
                            "invite_activated_at": joined,
                            "created_at": joined - timedelta(seconds=30),
                            "last_login_at": joined,
                        }
                    )
                    next_phone += 1
                for chunk in range(0, len(rows), CHUNK):
                    session.execute(sa.insert(User), rows[chunk : chunk + CHUNK])
            result[str(count)] = {"id": referrer.id, "phone": referrer.phone, "referrals": count}
        if session.get_bind().dialect.name == "postgresql":
            # What autovacuum's autoanalyze does within a minute of a bulk change. Without statistics the
            # planner expects ~7 referrals and sorts all 10,000 for the first page (~25 ms) instead of
            # reading the (referrer_id, invite_activated_at) index backwards (<0.1 ms).
            session.execute(sa.text("ANALYZE users"))
            session.commit()
    return result


def seed_codes(count: int, start: int, out: Path) -> None:
    settings = get_settings()
    now = utcnow()
    pairs = []
    with session_scope() as session, transaction(session, "bench:seed"):
        key = code_hmac_key(session, settings)
        rows = []
        for i in range(start, start + count):
            phone = f"+7916{i:07d}"
            code = security.new_numeric_code(settings.code_length)
            pairs.append(f"{phone} {code}\n")
            rows.append(
                {
                    "phone": phone,
                    "code_hmac": security.code_hmac(key, phone, code),
                    "created_at": now,
                    "expires_at": now + timedelta(seconds=settings.code_ttl_seconds),
                    "attempts": 0,
                    "requester_ip": f"198.19.{(i >> 8) & 255}.{i & 255}",
                }
            )
        for chunk in range(0, len(rows), CHUNK):
            session.execute(sa.insert(LoginCode), rows[chunk : chunk + CHUNK])
    out.write_text("".join(pairs))


def refusal_rows() -> int:
    """Audit rows written for refused sends and refused verifies so far (what a refusal flood adds)."""
    refused = [Event.CODE_REFUSED.value, Event.VERIFY_REFUSED.value]
    with session_scope() as session, transaction(session):
        return session.exec(
            select(sa.func.count()).select_from(AuditEvent).where(col(AuditEvent.event).in_(refused))
        ).one()


def main() -> None:
    parser = argparse.ArgumentParser(description="Seed benchmark data into DATABASE_URL.")
    sub = parser.add_subparsers(dest="what", required=True)
    users = sub.add_parser("users")
    users.add_argument("--referrals", type=int, nargs="+", required=True)
    codes = sub.add_parser("codes")
    codes.add_argument("--count", type=int, required=True)
    codes.add_argument("--start", type=int, default=0)
    codes.add_argument("--out", type=Path, required=True)
    sub.add_parser("refusal-rows")
    args = parser.parse_args()
    if args.what == "refusal-rows":
        print(json.dumps(refusal_rows()))
    elif args.what == "users":
        print(json.dumps(seed_users(args.referrals)))
    else:
        seed_codes(args.count, args.start, args.out)


if __name__ == "__main__":
    main()

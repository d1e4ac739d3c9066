"""The console's reads on a big PostgreSQL database: seeds USERS users (a third of them invited by the first
thousand, every one activated seconds or hours after signing up), EVENTS audit events over 60 days, one SMS in
the ledger per user over 30 days (a twentieth failed or undelivered, two providers) and a thousand phones locked
now, then times each console page's reads through services/admin.py, as an operator's tab calls them, and prints
the p50 of RUNS runs.

    python -m bench.console_queries postgresql+psycopg://postgres@127.0.0.1:5432/console_bench [USERS] [EVENTS]

The database is dropped and created again. `make bench` runs it with BENCH_CONSOLE=1 (bench/run.py): seeding
the default 1,000,000 users and 10,000,000 audit events takes many minutes."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from referral_app.core.clock import utcnow
from referral_app.core.config import Settings, set_settings
from referral_app.core.db import create_db_engine, dispose_engines, get_engine, migrate
from referral_app.services import admin, auth, login_codes
from referral_app.services.admin import AuditFilter, SmsFilter, UserSort

RUNS = 7
OPERATOR = "+79990001122"

SEED_USERS = """
INSERT INTO users (phone, invite_code, created_at, last_login_at, referrer_id, invite_activated_at, name, is_admin)
SELECT '+7916' || lpad(i::text, 7, '0'), 'B' || i,
       now() - make_interval(secs => i * 2.5), now() - make_interval(secs => i),
       NULL, NULL, CASE WHEN i % 10 = 0 THEN 'User ' || i END, false
FROM generate_series(1, :users) AS i
"""
INVITE = """
UPDATE users SET referrer_id = (id % 1000) + 1,
       invite_activated_at = created_at + make_interval(secs => CASE WHEN id % 7 = 0 THEN 5 ELSE 7200 END)
WHERE id > 1000 AND id % 3 = 0
"""
SEED_EVENTS = """
INSERT INTO audit_events (created_at, event, user_id, phone, client_ip, detail)
SELECT now() - make_interval(secs => (i * 5184000.0 / :events)),
       (ARRAY['code_requested', 'code_sent', 'login', 'wrong_code', 'invite_activated'])[1 + i % 5],
       1 + i % :users, '+7916' || lpad((1 + i % :users)::text, 7, '0'),
       '10.' || (i % 200) || '.' || (i % 250) || '.1', NULL
FROM generate_series(1, :events) AS i
"""

SEED_SMS = """
INSERT INTO sms_messages (id, phone, provider, provider_message_id, status, error, cost, currency,
                          created_at, updated_at)
SELECT 'sms' || i, '+7916' || lpad(i::text, 7, '0'),
       CASE WHEN i % 97 = 0 THEN '' WHEN i % 3 = 0 THEN 'smsc' ELSE 'smsru' END,
       CASE WHEN i % 97 = 0 THEN NULL ELSE 'p' || i END,
       CASE WHEN i % 97 = 0 THEN 'failed' WHEN i % 20 = 0 THEN 'undelivered' WHEN i % 50 = 1 THEN 'sent'
            ELSE 'delivered' END,
       NULL, CASE WHEN i % 97 = 0 THEN NULL ELSE 2.5 END, CASE WHEN i % 97 = 0 THEN NULL ELSE 'RUB' END,
       now() - make_interval(secs => i * 2592000.0 / :users), now() - make_interval(secs => i * 2592000.0 / :users)
FROM generate_series(1, :users) AS i
"""
SEED_LOCKS = """
INSERT INTO sign_in_guards (phone, device, failures, locked_until, updated_at)
SELECT '+7916' || lpad((i * 997 % :users + 1)::text, 7, '0'), '', 10, now() + make_interval(secs => i * 3), now()
FROM generate_series(1, 1000) AS i
ON CONFLICT DO NOTHING
"""


def recreate(url: str) -> None:
    name = sa.engine.make_url(url).database
    server = create_db_engine(sa.engine.make_url(url).set(database="postgres").render_as_string(False))
    with server.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    server.dispose()


def seed(session: Session, users: int, events: int) -> None:
    for label, statement, params in (
        ("users", SEED_USERS, {"users": users}),
        ("invitations", INVITE, {}),
        ("audit events", SEED_EVENTS, {"events": events, "users": users}),
        ("SMS ledger", SEED_SMS, {"users": users}),
        ("locks", SEED_LOCKS, {"users": users}),
    ):
        started = time.perf_counter()
        session.execute(sa.text(statement), params)
        session.commit()
        print(
            f"seeded {label}: {time.perf_counter() - started:.0f} s",
            flush=True,
        )
    session.execute(sa.text("SELECT setval('users_id_seq', (SELECT max(id) FROM users))"))
    session.commit()
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))


def p50(call: Callable[[], Any]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def measure(url: str, users: int, events: int) -> dict[str, float]:
    """Seed the database at `url` afresh and time each read: {read: p50 in ms}."""
    recreate(url)
    settings = Settings(_env_file=None, database_url=url, demo_mode=True, sms_delay_min=0, sms_delay_max=0)
    set_settings(settings)
    migrate(settings)
    with Session(get_engine(settings), expire_on_commit=False) as session:
        seed(session, users, events)
        admin.grant(session, phone=OPERATOR, by="bench")
        code = login_codes.issue_code(session, phone=OPERATOR, client_ip=None)
        token = auth.login_with_code(session, phone=OPERATOR, code=code).access_token
        now = utcnow()
        week_ago = now - timedelta(days=7)
        reads: dict[str, Callable[[], Any]] = {
            "users, newest, page 1": lambda: admin.find_users(session, token=token),
            "users, newest, page 400": lambda: admin.find_users(session, token=token, page=400),
            "users, last sign-in": lambda: admin.find_users(session, token=token, sort=UserSort.LAST_SIGN_IN),
            "users, most referrals": lambda: admin.find_users(session, token=token, sort=UserSort.REFERRALS),
            "search by phone": lambda: admin.find_users(session, token=token, query="8 (916) 000-12-34"),
            "search by invite code": lambda: admin.find_users(session, token=token, query="b4242"),
            "search by name": lambda: admin.find_users(session, token=token, query="user 4242"),
            "a user's page": lambda: admin.user_detail(session, token=token, user_id=5),
            "a user's referrals": lambda: admin.user_referrals(session, token=token, user_id=5),
            "a user's events": lambda: admin.audit_trail(session, token=token, wanted=AuditFilter(user_id=5)),
            "audit trail, newest": lambda: admin.audit_trail(session, token=token, wanted=AuditFilter()),
            "audit trail, one event": lambda: admin.audit_trail(
                session, token=token, wanted=AuditFilter(event="wrong_code")
            ),
            "audit trail, one client": lambda: admin.audit_trail(
                session, token=token, wanted=AuditFilter(client="10.7.7.1")
            ),
            "overview figures": lambda: admin.figures(session, token=token),
            "30-day chart": lambda: admin.daily(session, token=token, days=30),
            "leaderboard, 7 days": lambda: admin.leaderboard(
                session, token=token, limit=50, since=week_ago, until=now
            ),
            "flags, 7 days (with chains)": lambda: admin.flags(session, token=token, since=week_ago, until=now),
            "a user's referral tree": lambda: admin.referral_tree(session, token=token, user_id=5),
            "locked phones": lambda: admin.locked_phones(session, token=token),
            "SMS today (figures, providers)": lambda: admin.sms_today(session, token=token),
            "SMS messages, newest": lambda: admin.sms_messages(session, token=token, wanted=SmsFilter()),
            "SMS messages, failed": lambda: admin.sms_messages(
                session, token=token, wanted=SmsFilter(status="failed")
            ),
            "SMS messages, one provider": lambda: admin.sms_messages(
                session, token=token, wanted=SmsFilter(provider="smsc")
            ),
        }
        measured = {name: p50(read) for name, read in reads.items()}
    dispose_engines()
    return measured


def main(url: str, users: int, events: int) -> None:
    measured = measure(url, users, events)
    print(f"\n{users} users, {events} audit events, {users} SMS; p50 of {RUNS} runs")
    for name, ms in measured.items():
        print(f"{name:32} {ms:8.1f} ms", flush=True)


if __name__ == "__main__":
    main(
        sys.argv[1],
        int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000,
        int(sys.argv[3]) if len(sys.argv) > 3 else 10_000_000,
    )

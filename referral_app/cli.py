"""Operator commands: `python -m referral_app.cli <command>` (in the container: `docker compose exec app ...`).

purge-audit --older-than-days N [--reason TEXT]
    Remove audit events older than N days (at least AUDIT_RETENTION_MIN_DAYS); the run and what it removed
    per event kind are kept in audit_purges, which nothing can delete. Prints the run as JSON.

webhook-deliveries [--state pending|delivered|failed|disabled] [--limit N] [--id ID]
    The newest webhook deliveries, one JSON object a line, each with every attempt (time, status, answer size,
    error).

webhook-replay ID --reason TEXT
    Send delivery ID's event to its endpoint again now, with the same webhook-id (audited: who and why).

webhook-enable URL --reason TEXT
    Deliver again to an endpoint that answered 410 Gone (audited: who and why).

migrate
    Bring the database schema to the newest revision and exit (a deploy runs it once, before the app servers
    start; they would each do it on start otherwise). Waits for the database like the server does.

purge-stale
    Run the retention purge now (the server runs it once a day): tokens expired or revoked over 30 days ago,
    sign-in guards that hold nothing, codes spent or expired over a day ago. Audited as `data_purged`; prints
    the counts as JSON.

admins add PHONE | admins remove PHONE | admins list
    Grant or remove the operator role (the console at /admin), the only way to; the account is created when the
    number has none. Audited with the system user who ran it. `list` prints the operators as JSON lines.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import logging
import sys
from datetime import datetime

from referral_app.core.db import migrate, session_scope
from referral_app.core.log_setup import configure_logging
from referral_app.limits import AUDIT_DETAIL_MAX_LENGTH
from referral_app.services import admin, audit, retention, webhooks
from referral_app.services.errors import ServiceError

log = logging.getLogger("referral_app.cli")


def purge_audit(args: argparse.Namespace) -> int:
    try:
        before = audit.retention_cutoff(older_than_days=args.older_than_days)
    except audit.RetentionTooShort as exc:
        log.error("not purging: %s", exc)
        return 2
    with session_scope() as session:
        run = audit.purge(session, before=before, reason=args.reason)
    summary = {
        "purge_id": run.id,
        "removed_before": run.removed_before.isoformat() + "Z",
        "removed": run.removed,
        "removed_by_event": run.removed_by_event,
    }
    print(json.dumps(summary, sort_keys=True))
    return 0


def migrate_database(args: argparse.Namespace) -> int:
    migrate()
    log.info("database schema is up to date")
    return 0


def purge_stale(args: argparse.Namespace) -> int:
    with session_scope() as session:
        purged = retention.purge(session)
    print(json.dumps(dataclasses.asdict(purged), sort_keys=True))
    return 0


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for the uid (a container's)
        return "cli"


def admins(args: argparse.Namespace) -> int:
    try:
        with session_scope() as session:
            if args.action == "list":
                for listed in admin.list_operators(session):
                    print(json.dumps({"id": listed.id, "phone": listed.phone, "name": listed.name}))
                return 0
            if args.action == "add":
                granted, changed = admin.grant(session, phone=args.phone, by=_who())
                print(json.dumps({"id": granted.id, "phone": granted.phone, "changed": changed}))
            else:
                changed = admin.remove(session, phone=args.phone, by=_who())
                print(json.dumps({"phone": args.phone, "changed": changed}))
    except ServiceError as exc:
        log.error("%s: %s", exc.code, exc.message())
        return 2
    return 0


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat() + "Z"
    raise TypeError(f"not JSON: {type(value).__name__}")


def webhook_deliveries(args: argparse.Namespace) -> int:
    with session_scope() as session:
        views = webhooks.list_deliveries(session, state=args.state, limit=args.limit, delivery_id=args.id)
    for view in views:
        print(json.dumps(dataclasses.asdict(view), default=_json_default, sort_keys=True))
    return 0


def webhook_replay(args: argparse.Namespace) -> int:
    try:
        with session_scope() as session:
            replayed = webhooks.replay(session, delivery_id=args.delivery_id, operator=_who(), reason=args.reason)
    except webhooks.WebhookError as exc:
        log.error("not replayed: %s", exc)
        return 2
    print(json.dumps({"replayed": args.delivery_id, "delivery_id": replayed}))
    return 0


def webhook_enable(args: argparse.Namespace) -> int:
    with session_scope() as session:
        enabled = webhooks.enable_endpoint(session, url=args.url, operator=_who(), reason=args.reason)
    if not enabled:
        log.error("%s is not disabled", args.url)
        return 2
    print(json.dumps({"enabled": args.url}))
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m referral_app.cli", description="referral_app operator commands")
    commands = root.add_subparsers(dest="command", required=True)
    purge = commands.add_parser("purge-audit", help="remove audit events past their retention, on the record")
    purge.add_argument("--older-than-days", type=int, required=True, help="keep the events of the last N days")
    purge.add_argument(
        "--reason", default="retention", help=f"kept with the run (at most {AUDIT_DETAIL_MAX_LENGTH} characters)"
    )
    purge.set_defaults(run=purge_audit)
    listing = commands.add_parser("webhook-deliveries", help="the newest webhook deliveries with their attempts")
    listing.add_argument("--state", choices=[state.value for state in webhooks.DeliveryState])
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--id", type=int, help="only this delivery")
    listing.set_defaults(run=webhook_deliveries, reason="")
    replay = commands.add_parser("webhook-replay", help="send a delivery's event to its endpoint again, now")
    replay.add_argument("delivery_id", type=int)
    replay.add_argument("--reason", required=True, help="kept in the audit trail with who asked")
    replay.set_defaults(run=webhook_replay)
    enable = commands.add_parser("webhook-enable", help="deliver to an endpoint disabled by 410 Gone again")
    enable.add_argument("url")
    enable.add_argument("--reason", required=True, help="kept in the audit trail with who asked")
    enable.set_defaults(run=webhook_enable)
    commands.add_parser("migrate", help="apply the database migrations and exit").set_defaults(
        run=migrate_database, reason=""
    )
    stale = commands.add_parser("purge-stale", help="remove stale tokens, sign-in guards and codes now")
    stale.set_defaults(run=purge_stale, reason="")
    operators = commands.add_parser("admins", help="grant, remove or list the console's operators")
    actions = operators.add_subparsers(dest="action", required=True)
    for action, text in (("add", "make the number's account an operator"), ("remove", "take the role away")):
        actions.add_parser(action, help=text).add_argument("phone", help="the number, in any usual form")
    actions.add_parser("list", help="the operators, one JSON object a line")
    operators.set_defaults(run=admins)
    return root


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args = parser().parse_args(argv)
    if len(getattr(args, "reason", "")) > AUDIT_DETAIL_MAX_LENGTH:
        log.error("--reason is longer than %d characters", AUDIT_DETAIL_MAX_LENGTH)
        return 2
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())

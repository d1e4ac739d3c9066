"""The one source of "now": naive UTC, the form every timestamp column stores."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)

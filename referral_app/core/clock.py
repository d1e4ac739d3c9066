"""The one source of "now": naive UTC, the form every timestamp column stores.

Tests may put a clock of their own in place (`set_clock`), e.g. to let thirty days pass in a second."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime


def _system_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


_now: Callable[[], datetime] = _system_now


def utcnow() -> datetime:
    return _now()


def set_clock(now: Callable[[], datetime] | None) -> None:
    """Replace the source of "now" for the whole process (`None`: the system clock again)."""
    global _now
    _now = now or _system_now

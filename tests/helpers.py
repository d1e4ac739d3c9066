"""Helpers for tests: settings, time travel on stored rows, logging in through the API."""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta

import httpx
from sqlmodel import Session, SQLModel, select

from referral_app.core.clock import utcnow
from referral_app.core.config import Settings, set_settings
from referral_app.services import refusal_cache


class FakeClock:
    """A "now" that moves only when told to (install it with the `clock` fixture)."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


# Outside demo mode the server needs a key of its own (tests that turn demo mode off pass this one).
PRODUCTION_SECRET_KEY = "tests-only-secret-key-0123456789abcdef"


def make_settings(url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": url,
        "demo_mode": True,
        "sms_delay_min": 0.0,
        "sms_delay_max": 0.0,
        "secret_key": None,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def configure(settings: Settings, **overrides: object) -> Settings:
    """Change settings for the rest of a test (the engine and database stay the same)."""
    updated = settings.model_copy(update=overrides)
    set_settings(updated)
    return updated


def shift_back(session: Session, model: type[SQLModel], seconds: float, *columns: str) -> None:
    """Move timestamps into the past, as if `seconds` had passed (the clock itself is never faked). The
    process's refusal cache is dropped: it holds refusals until moments read from these rows."""
    refusal_cache.forget()
    delta = timedelta(seconds=seconds)
    session.rollback()
    for row in session.exec(select(model)).all():
        for name in columns:
            if getattr(row, name) is not None:
                setattr(row, name, getattr(row, name) - delta)
    session.commit()


class Stopwatch:
    """Real time since it was started, for limits that answer with how long is left (Retry-After, created
    from a stored timestamp and the clock): a check allows for the seconds that really passed instead of a
    guessed tolerance that a busy machine can exceed. Never asserted to be small: speed is `make bench`'s."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def seconds(self) -> int:
        """Whole seconds passed, rounded up, plus one for the rounding where the wall clock meets this one."""
        return math.ceil(time.monotonic() - self.started) + 1


async def api_login(client: httpx.AsyncClient, phone: str) -> dict:
    """Request a code and exchange it (demo mode gives the code back). Returns the token response."""
    sent = await client.post("/api/v1/auth/code", json={"phone": phone})
    assert sent.status_code == 200, sent.text
    response = await client.post("/api/v1/auth/token", json={"phone": phone, "code": sent.json()["debug_code"]})
    assert response.status_code == 200, response.text
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

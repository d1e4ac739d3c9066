"""Applying Alembic migrations on start: after a bounded wait for the database, under a lock, so several
processes starting at once are safe."""

from __future__ import annotations

import fcntl
import logging
import time
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from sqlalchemy.engine import Engine

from referral_app.core.config import PROJECT_ROOT, Settings, get_settings
from referral_app.core.db.engine import get_engine
from referral_app.core.db.transactions import lock_id

log = logging.getLogger(__name__)

ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"
_MIGRATION_LOCK_ID = lock_id("referral_app:migrations")


def alembic_config(url: str) -> Config:
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    config.attributes["database_url"] = url
    return config


def wait_for_database(engine: Engine, *, attempts: int = 30, delay: float = 1.0) -> None:
    """Bounded retry while the database starts (containers start in any order); raises after the last try."""
    where = engine.url.render_as_string(hide_password=True)
    for attempt in range(1, attempts + 1):
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.OperationalError as exc:
            reason = _first_line(exc.orig or exc)
            if attempt == attempts:
                log.error("database %s unreachable after %d attempts, giving up: %s", where, attempts, reason)
                raise
            log.warning(
                "waiting for database %s (attempt %d/%d, retrying in %gs): %s",
                where,
                attempt,
                attempts,
                delay,
                reason,
            )
            time.sleep(delay)
        else:
            log.info("database %s is reachable%s", where, f" after {attempt} attempts" if attempt > 1 else "")
            return


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def migrate(settings: Settings | None = None) -> None:
    """Bring the schema to the newest revision. Safe when several processes start at once."""
    from alembic import command

    settings = settings or get_settings()
    engine = get_engine(settings)
    wait_for_database(engine, attempts=settings.database_wait_attempts)
    config = alembic_config(settings.database_url)
    if engine.dialect.name == "sqlite":
        lock_path = Path(engine.url.database or "sqlite-memory").with_suffix(".migrate.lock")
        with open(lock_path, "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            command.upgrade(config, "head")
        return
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK_ID})
        conn.commit()
        try:
            command.upgrade(config, "head")
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK_ID})
            conn.commit()

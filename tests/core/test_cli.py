"""`python -m referral_app.cli migrate`: the one-off migration a deploy runs before its app servers start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_migrate_brings_an_empty_database_to_the_newest_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    env = {**os.environ, "DATABASE_URL": url, "DEMO_MODE": "true"}
    for _ in range(2):  # and again: nothing left to do
        result = subprocess.run(
            [sys.executable, "-m", "referral_app.cli", "migrate"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert "database schema is up to date" in result.stderr
    engine = sa.create_engine(url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"users", "login_codes", "auth_tokens", "audit_events", "alembic_version"} <= tables

"""Where Reflex keeps the tabs' state, as rxconfig.py configures it: in the process without Redis (not also in
pickles on disk, Reflex's default), in Redis when REFLEX_REDIS_URL names one. Each case in a fresh interpreter,
since Reflex reads its config once per process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MANAGER = (
    "import rxconfig\n"
    "from reflex.istate.manager import StateManager\n"
    "print(type(StateManager.create()).__name__)\n"
)


def state_manager(**env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k not in ("REFLEX_REDIS_URL", "REDIS_URL")}
    result = subprocess.run(
        [sys.executable, "-c", MANAGER],
        cwd=ROOT,
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


def test_without_redis_the_state_stays_in_the_process() -> None:
    assert state_manager() == "StateManagerMemory"


@pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason="needs TEST_REDIS_URL")
def test_with_redis_the_state_is_in_redis() -> None:
    assert state_manager(REFLEX_REDIS_URL=os.environ["TEST_REDIS_URL"]) == "StateManagerRedis"

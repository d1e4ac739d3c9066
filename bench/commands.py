"""Every command bench runs, recorded as a shell line for the report's "Command lines", so a reader can
repeat any measurement by hand."""

from __future__ import annotations

import subprocess

from bench.config import PYTHON, ROOT

COMMANDS: list[str] = []
# Shown as shell variables in the report: the temporary directory, the free port of each run, ...
PLACEHOLDERS: dict[str, str] = {}


def record(cmd: list[str], env: dict[str, str] | None = None, note: str = "") -> None:
    shown = " ".join(f"{k}={v}" for k, v in (env or {}).items())
    line = (shown + " " if shown else "") + " ".join(cmd)
    line = line.replace(PYTHON, ".venv/bin/python").replace(str(ROOT) + "/", "")
    for value, name in PLACEHOLDERS.items():
        line = line.replace(value, name)
    if note:
        line += f"    # {note}"
    if line not in COMMANDS:
        COMMANDS.append(line)


def run_python(module: str, *args: str, env: dict[str, str], shown_env: dict[str, str]) -> str:
    """`python -m module args` from the repository root, recorded; its stdout."""
    cmd = [PYTHON, "-m", module, *args]
    record(cmd, shown_env)
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{module} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout

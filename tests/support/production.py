"""The production server (`python -m referral_app.serve`, the container's command) run by tests: from a project
copy whose front end is built once, as the image builds it (`reflex export --frontend-only`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.server import RunningServer, launch_server, server_environment, wait_until_ready

SERVE = (sys.executable, "-m", "referral_app.serve")
BUILD_TIMEOUT = 900  # the first build installs the front end's npm packages


def build_front_end(project: Path, log_dir: Path, **build_env: str) -> None:
    """What the Dockerfile does: compile the app and build its front end into project/.web/build/client
    (`build_env`: e.g. REFLEX_API_URL, the backend address compiled into it)."""
    env = server_environment(
        PATH=f"{project / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        REFLEX_USE_NPM="1",
        REFLEX_TELEMETRY_ENABLED="false",
        **build_env,
    )
    with open(log_dir / "export.log", "ab") as log:
        subprocess.run(
            [
                str(project / ".venv" / "bin" / "reflex"),
                "export",
                "--frontend-only",
                "--no-zip",
                "--loglevel",
                "info",
            ],
            cwd=project,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=BUILD_TIMEOUT,
        )
    assert (project / ".web" / "build" / "client" / "index.html").is_file()


def start_production_server(project: Path, log_dir: Path, *, port: int | None = None, **env: str) -> RunningServer:
    """serve.py in `project` (front end built), returned once /api/health answers. Demo mode on SQLite in
    `log_dir` unless `env` says otherwise."""
    server = launch_server(project, log_dir, port=port, command=SERVE, **env)
    wait_until_ready(server, timeout=180)
    return server

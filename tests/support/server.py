"""The real server, started exactly the way `make run` starts it, in a process group of its own; stopped
gently or with `kill -9`, and in both cases waited for until nothing of it is left. Also the private copy of
the project that servers can run from."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from tests.support.ports import free_port
from tests.support.procfs import group_members

STARTUP_TIMEOUT = 600  # the first start installs the front end's npm packages and builds it
MAKE_RUN = ("make", "--no-print-directory", "run")
# Set by an outer `make` (`make test`, `make bench`): its MAKEFLAGS would hand its command-line variables
# (say PORT=3001) to the server's `make run`, where they would beat the PORT we put in the environment.
OUTER_MAKE_VARIABLES = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")


class RunningServer:
    def __init__(self, base_url: str, process: subprocess.Popen, log_path: Path) -> None:
        self.base_url, self.process, self.log_path = base_url, process, log_path

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def server_environment(**env: str) -> dict[str, str]:
    """This process's environment without the outer make's variables, with `env` on top."""
    return {**{k: v for k, v in os.environ.items() if k not in OUTER_MAKE_VARIABLES}, **env}


def answers_health(server: RunningServer) -> bool:
    try:
        return httpx.get(server.base_url + "/api/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def launch_server(
    cwd: Path, log_dir: Path, *, port: int | None = None, command: Sequence[str] = MAKE_RUN, **env: str
) -> RunningServer:
    """Start `command` (`make run`) in `cwd` on `port` (a free one by default) without waiting for it.

    Demo mode on `log_dir/server.db` unless `env` says otherwise. The log goes to `log_dir/server-<port>.log`,
    appended to, so a restart on the same port keeps the story."""
    port = port or free_port()
    log_path = log_dir / f"server-{port}.log"
    environment = server_environment(
        **{"PORT": str(port), "DATABASE_URL": f"sqlite:///{log_dir / 'server.db'}", "DEMO_MODE": "true", **env}
    )
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=environment,
            stdin=subprocess.DEVNULL,  # a question from Reflex (say, "port in use?") fails instead of hanging
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one process group: stopping it stops Reflex and its workers
        )
    return RunningServer(f"http://127.0.0.1:{port}", process, log_path)


def wait_until_ready(
    server: RunningServer,
    ready: Callable[[RunningServer], bool] = answers_health,
    timeout: float = STARTUP_TIMEOUT,
) -> None:
    """Poll `ready` every second; fail (and stop the server) if it exits first or is not ready in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"server exited with {server.process.returncode}:\n{server.log()[-5000:]}")
        if ready(server):
            return
        time.sleep(1)
    stop_server(server)
    raise AssertionError(f"server did not become healthy in {timeout:.0f} s:\n{server.log()[-5000:]}")


def start_server(cwd: Path, log_dir: Path, *, port: int | None = None, **env: str) -> RunningServer:
    """`make run` in `cwd` (see `launch_server`), returned once /api/health answers."""
    server = launch_server(cwd, log_dir, port=port, **env)
    wait_until_ready(server)
    return server


def _wait_for_group_exit(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while group_members(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def stop_server(server: RunningServer, timeout: float = 20) -> bool:
    """SIGTERM the server's process group and wait until every process of it has exited, so its shutdown
    work (e.g. Reflex removing its websocket records from Redis) is finished; `kill -9` what is left after
    `timeout` seconds. Returns whether it stopped by itself."""
    pgid = server.process.pid
    if group_members(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        if not _wait_for_group_exit(pgid, timeout):
            kill_hard(server)
            return False
    server.process.wait(timeout=timeout)
    return True


def stop_gracefully(server: RunningServer, timeout: float = 30) -> None:
    """`stop_server`, failing the test if the server needed `kill -9`."""
    if not stop_server(server, timeout):
        raise AssertionError(f"server (process group {server.process.pid}) did not stop within {timeout} s")


def kill_hard(server: RunningServer, timeout: float = 20) -> None:
    """`kill -9` the server's whole process group (make, the Reflex supervisor, every worker) and wait until
    none of it is left."""
    pgid = server.process.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    server.process.wait(timeout=timeout)
    if not _wait_for_group_exit(pgid, timeout):
        raise AssertionError(f"process group {pgid} survived SIGKILL: {group_members(pgid)}")


def copy_project(repo_root: Path, target: Path) -> Path:
    """Copy the working tree (tracked and new files, with uncommitted edits) and the built front end into
    `target`, sharing the virtualenv through a symlink.

    Servers run from a copy when they must not touch the real tree: `make run` rebuilds `.web` with its own
    port baked into the JavaScript (the websocket URL), so building in the real tree would repoint the pages
    of any other server running from it (the session's `live_server`) at another port."""
    target.mkdir(parents=True, exist_ok=True)
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo_root,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = repo_root / os.fsdecode(name)
        if source.is_file():
            destination = target / os.fsdecode(name)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    if (repo_root / ".web").is_dir():
        shutil.copytree(repo_root / ".web", target / ".web", symlinks=True)
    (target / ".venv").symlink_to(repo_root / ".venv")
    return target


def start_server_of_its_own(repo_root: Path, work_dir: Path, **env: str) -> RunningServer:
    """`start_server` from a fresh project copy in `work_dir`, for a server with settings of its own beside the
    session's `live_server` (a second server in the real tree would rebuild the front end for its own port)."""
    return start_server(copy_project(repo_root, work_dir / "project"), work_dir, **env)

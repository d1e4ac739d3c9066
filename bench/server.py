"""The servers bench measures: the app as production runs it (`python -m referral_app.serve`, the container's
command, with its metrics listener), the calibration floor (bench/floor_app.py), and the Django/DRF peer of
GET /api/v1/profile (bench/peer_django/).

The front end is built once per bench process, as the image builds it (tests/support/production.py). Starting,
health polling and stopping the process group are the tests' own (tests/support/server.py); this adds what only
bench needs: the command line recorded for the report, the server's environment for bench's helper processes
(seed, queries), the process tree for memory (psutil, a bench requirement) and the /metrics address."""

from __future__ import annotations

import contextlib
import shlex
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from bench.commands import PLACEHOLDERS, record
from bench.config import PYTHON, ROOT, SERVER_SETTINGS, STARTUP_TIMEOUT, log
from tests.support.ports import free_port, port_is_closed
from tests.support.procfs import group_members
from tests.support.production import SERVE, build_front_end
from tests.support.server import (
    RunningServer,
    answers_health,
    launch_server,
    server_environment,
    stop_server,
    wait_until_ready,
)

PEER_PATH = "/api/v1/profile"  # the one route of bench/peer_django/
_built: list[Path] = []  # the front end is built at most once per bench process
# What the built front end is made of: the web app's pages and states, the app module, Reflex's config and
# version, static assets. A change elsewhere (services, the API) needs no new build.
FRONT_END_SOURCES = (
    "referral_app/web",
    "referral_app/referral_app.py",
    "rxconfig.py",
    "assets",
    "requirements.txt",
)


def front_end_is_current() -> bool:
    index = ROOT / ".web" / "build" / "client" / "index.html"
    if not index.is_file():
        return False
    built = index.stat().st_mtime
    for name in FRONT_END_SOURCES:
        path = ROOT / name
        files = [path] if path.is_file() else list(path.rglob("*")) if path.is_dir() else []
        if any(f.stat().st_mtime > built for f in files if f.is_file() and "__pycache__" not in f.parts):
            return False
    return True


def ensure_front_end(work_dir: Path) -> None:
    """`reflex export --frontend-only` in the repository, as the image build does, unless the build there is
    newer than every front-end source; at most once per bench process."""
    if _built:
        return
    if front_end_is_current():
        log("the front end in .web/build is newer than its sources: not rebuilt")
        _built.append(ROOT)
        return
    record(["reflex", "export", "--frontend-only", "--no-zip"], {"REFLEX_USE_NPM": "1"}, "the front end, once")
    log("building the front end (reflex export --frontend-only)")
    build_front_end(ROOT, work_dir)
    _built.append(ROOT)


class AppServer:
    """serve.py in a session of its own, so the whole tree (granian's supervisor and its workers) is one group;
    its metrics on a port of their own."""

    note = "the server; stopped with kill -TERM -- -<its process group>"
    serves_front_end = True

    def __init__(self, database_url: str, work_dir: Path) -> None:
        self.port = free_port()
        self.metrics_port = free_port()
        while self.metrics_port == self.port:
            self.metrics_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        self.database_url = database_url
        self.work_dir = work_dir
        self.running: RunningServer | None = None
        self.command = [PYTHON, *SERVE[1:]]
        self.settings = {
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            "DATABASE_URL": database_url,
            "METRICS_PORT": str(self.metrics_port),
            "PROMETHEUS_MULTIPROC_DIR": str(work_dir / f"metrics-{self.port}"),
            **SERVER_SETTINGS,
        }
        PLACEHOLDERS[f"127.0.0.1:{self.port}"] = "127.0.0.1:$PORT"
        PLACEHOLDERS[f"PORT={self.port}"] = "PORT=$PORT"
        PLACEHOLDERS[f"METRICS_PORT={self.metrics_port}"] = "METRICS_PORT=$METRICS_PORT"
        PLACEHOLDERS[f"metrics-{self.port}"] = "metrics-$PORT"

    def env(self) -> dict[str, str]:
        """The server's environment, for bench's helpers that work on its database."""
        return server_environment(**self.settings)

    def ready(self, server: RunningServer) -> bool:
        return answers_health(server)

    def start(self) -> None:
        if self.serves_front_end:
            ensure_front_end(self.work_dir)
        record(["setsid", *self.command], self.settings, self.note)
        self.running = launch_server(ROOT, self.work_dir, port=self.port, command=self.command, **self.settings)
        log(f"started {shlex.join(self.command)} on port {self.port} (process group {self.running.process.pid})")
        wait_until_ready(self.running, self.ready, STARTUP_TIMEOUT)
        log("server healthy")

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            if self.running is not None:
                return "\n".join(self.running.log().splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        if self.running is None:
            return
        if group_members(self.running.process.pid):
            log(f"stopping the server (process group {self.running.process.pid})")
        try:
            if not stop_server(self.running):
                log("the server did not stop in 20 s; killed its process group")
        except (AssertionError, subprocess.TimeoutExpired) as exc:  # still write the report
            log(f"could not stop the server: {exc}")
        self.running = None

    def processes(self) -> list[psutil.Process]:
        assert self.running is not None
        root = psutil.Process(self.running.process.pid)
        return [root, *root.children(recursive=True)]


class FloorServer(AppServer):
    """bench/floor_app.py under granian with one worker: the calibration for the send-code burst."""

    note = "calibration server (bench/floor_app.py)"
    serves_front_end = False

    def __init__(self, work_dir: Path) -> None:
        super().__init__("", work_dir)
        self.settings = {"PORT": str(self.port)}
        self.command = [
            str(Path(PYTHON).parent / "granian"),
            "--interface",
            "asgi",
            "--workers",
            "1",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            "bench.floor_app:app",
        ]

    def ready(self, server: RunningServer) -> bool:
        return not port_is_closed(server.port)  # it has no /api/health


class PeerServer(AppServer):
    """bench/peer_django/ as Django shops serve it: gunicorn, one sync worker, on the app's database."""

    note = "the Django/DRF peer (bench/peer_django/)"
    serves_front_end = False

    def __init__(self, database_url: str, work_dir: Path) -> None:
        super().__init__(database_url, work_dir)
        self.settings = {"DATABASE_URL": database_url}
        self.command = [
            str(Path(PYTHON).parent / "gunicorn"),
            "--workers",
            "1",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--no-control-socket",  # gunicorn's is one path per user: a second gunicorn would take it over
            "--log-level",
            "warning",
            "bench.peer_django.wsgi:application",
        ]

    def ready(self, server: RunningServer) -> bool:
        # gunicorn listens before its worker has loaded Django: ready once the route answers (401, no token).
        try:
            with urllib.request.urlopen(server.base_url + PEER_PATH, timeout=2):  # noqa: S310 (127.0.0.1)
                return True
        except urllib.error.HTTPError as exc:
            return exc.code == 401
        except OSError:
            return False


def fresh_postgres(url: str) -> None:
    """Drop BENCH_PG_URL's database and create it empty; only a database named for the benchmark."""
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = parsed.database or ""
    if "bench" not in name:
        raise RuntimeError(
            f"refusing to drop and recreate {name!r}: BENCH_PG_URL's database name must contain 'bench'"
        )
    admin = parsed.set(drivername="postgresql", database="postgres")
    conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
        version = conn.execute("SHOW server_version").fetchone()
    log(f"fresh PostgreSQL database {name} (server {version[0] if version else '?'})")

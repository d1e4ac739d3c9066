"""Tools for the resilience tests: a private copy of the project to run servers from, process groups,
a throw-away PostgreSQL cluster, a switchable TCP proxy (a load balancer in miniature), and the
database invariants that must hold whatever happened to the server."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.live_server import RunningServer, free_port

# --- a private copy of the project ------------------------------------------------------------------------


def copy_project(repo_root: Path, target: Path) -> Path:
    """Copy the working tree (tracked and new files, with uncommitted edits) and the built front end into
    `target`, sharing the virtualenv through a symlink.

    Servers for these tests run from the copy because `make run` rebuilds `.web` with its own port baked into
    the JavaScript (the websocket URL): building in the real tree would repoint the pages of any other server
    running from it (the session's `live_server`) at our ports."""
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


# --- process groups ---------------------------------------------------------------------------------------


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group, read from /proc."""
    members = []
    for stat_path in glob.glob("/proc/[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = Path(stat_path).read_text()
            fields = text[text.rindex(")") + 2 :].split()
            state, pgrp = fields[0], int(fields[2])
            if pgrp == pgid and state not in ("Z", "X"):
                members.append(int(Path(stat_path).parent.name))
    return members


def children_of(pid: int) -> list[int]:
    found = []
    for stat_path in glob.glob("/proc/[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = Path(stat_path).read_text()
            fields = text[text.rindex(")") + 2 :].split()
            if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
                found.append(int(Path(stat_path).parent.name))
    return found


def kill_hard(server: RunningServer, timeout: float = 20) -> None:
    """`kill -9` the server's whole process group (make, the Reflex supervisor, every worker) and wait until
    none of it is left."""
    pgid = server.process.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    server.process.wait(timeout=timeout)
    deadline = time.monotonic() + timeout
    while group_members(pgid):
        if time.monotonic() > deadline:
            raise AssertionError(f"process group {pgid} survived SIGKILL: {group_members(pgid)}")
        time.sleep(0.05)


def stop_gracefully(server: RunningServer, timeout: float = 30) -> None:
    """SIGTERM the server's process group and wait until every process of it has exited, so its shutdown
    work (e.g. Reflex removing its websocket records from Redis) is finished."""
    pgid = server.process.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while group_members(pgid):
        if time.monotonic() > deadline:
            kill_hard(server)
            raise AssertionError(f"server (process group {pgid}) did not stop within {timeout} s")
        time.sleep(0.05)
    server.process.wait(timeout=timeout)


def port_is_closed(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0


# --- databases --------------------------------------------------------------------------------------------


def postgres_url_with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


@contextlib.contextmanager
def scratch_postgres_database(server_url: str, name: str) -> Iterator[str]:
    """A new, empty database on the server of `server_url`, dropped afterwards (even with clients left)."""
    admin = sa.create_engine(postgres_url_with_database(server_url, "postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield postgres_url_with_database(server_url, name)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def postgres_bindir() -> Path | None:
    """Where initdb and pg_ctl are: PG_BINDIR, then Debian's /usr/lib/postgresql/<newest>/bin, then PATH."""
    if explicit := os.environ.get("PG_BINDIR"):
        return Path(explicit)
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]), reverse=True
    )
    if candidates:
        return Path(candidates[0]).parent
    if found := shutil.which("initdb"):
        return Path(found).parent
    return None


class TempPostgres:
    """A throw-away PostgreSQL cluster in a temporary directory, on its own free port.

    initdb refuses to run as root, so as root the cluster is owned by and run as the `postgres` user."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="referral-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self._user = None
        if os.geteuid() == 0:
            self._user = pwd.getpwnam("postgres")
            os.chown(self.dir, self._user.pw_uid, self._user.pw_gid)

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._user is not None:
            command = ["runuser", "-u", self._user.pw_name, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.dir)
        if result.returncode != 0:
            raise AssertionError(f"{args[0]} failed: {result.stdout}\n{result.stderr}\n{self._log_tail()}")

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-3000:]
        return ""

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return self.url(name)

    def destroy(self) -> None:
        if self.running():
            with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
                self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


# --- a switchable TCP proxy -------------------------------------------------------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:<port> to one upstream port at a time, like a load balancer with one healthy
    backend. `switch()` points new connections elsewhere; `drop()` cuts the open ones (as a failover does)."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connect, args=(client, self.upstream), daemon=True).start()

    def _connect(self, client: socket.socket, upstream: int) -> None:
        try:
            server = socket.create_connection(("127.0.0.1", upstream), timeout=5)
            server.settimeout(None)
        except OSError:
            client.close()
            return
        with self._lock:
            self._open.update((client, server))
        for source, sink in ((client, server), (server, client)):
            threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
                with self._lock:
                    self._open.discard(s)

    def switch(self, upstream: int) -> None:
        self.upstream = upstream

    def drop(self) -> None:
        with self._lock:
            sockets = list(self._open)
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.drop()


# --- invariants -------------------------------------------------------------------------------------------


def check_invariants(url: str) -> dict[str, int]:
    """Assert what no crash may break, and return row counts.

    - every user has an invite code, and invite codes (and phones) are unique;
    - referrer_id and invite_activated_at are both set or both empty; nobody refers themselves;
    - the referral graph has no cycles;
    - every login code row is complete (phone, HMAC, created/expires in order, attempts in range);
    - every token row is complete and points at an existing user;
    - logging in is atomic: every user (users are only created by a login) has a token and a consumed code,
      and every consumed code belongs to a registered phone."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            q = lambda sql: conn.execute(sa.text(sql)).all()  # noqa: E731
            assert q("SELECT id FROM users WHERE invite_code IS NULL OR invite_code = ''") == []
            assert q("SELECT invite_code FROM users GROUP BY invite_code HAVING COUNT(*) > 1") == []
            assert q("SELECT phone FROM users GROUP BY phone HAVING COUNT(*) > 1") == []
            assert (
                q(
                    "SELECT id FROM users WHERE (referrer_id IS NULL) <> (invite_activated_at IS NULL)"
                    " OR referrer_id = id"
                )
                == []
            )
            referrer = dict(q("SELECT id, referrer_id FROM users"))
            for start in referrer:
                seen, node = set(), start
                while node is not None:
                    assert node not in seen, f"referral cycle through user {node}"
                    seen.add(node)
                    node = referrer.get(node)
            assert (
                q(
                    "SELECT id FROM login_codes WHERE phone IS NULL OR phone = '' OR code_hmac IS NULL"
                    " OR length(code_hmac) <> 64 OR created_at IS NULL OR expires_at IS NULL"
                    " OR expires_at <= created_at OR attempts < 0 OR attempts > 5"
                    " OR (consumed_at IS NOT NULL AND consumed_at < created_at)"
                )
                == []
            )
            assert (
                q(
                    "SELECT t.id FROM auth_tokens t LEFT JOIN users u ON u.id = t.user_id WHERE u.id IS NULL"
                    " OR length(t.token_hash) <> 64 OR t.expires_at <= t.created_at"
                )
                == []
            )
            assert (
                q("SELECT u.id FROM users u WHERE NOT EXISTS (SELECT 1 FROM auth_tokens t WHERE t.user_id = u.id)")
                == []
            )
            assert (
                q(
                    "SELECT u.id FROM users u WHERE NOT EXISTS"
                    " (SELECT 1 FROM login_codes c WHERE c.phone = u.phone AND c.consumed_at IS NOT NULL)"
                )
                == []
            )
            assert (
                q(
                    "SELECT c.id FROM login_codes c WHERE c.consumed_at IS NOT NULL"
                    " AND NOT EXISTS (SELECT 1 FROM users u WHERE u.phone = c.phone)"
                )
                == []
            )
            return {
                table: conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
                for table in ("users", "login_codes", "auth_tokens", "phone_guards")
            }
    finally:
        engine.dispose()


def established_connections(pid: int, port: int) -> int:
    """How many ESTABLISHED TCP connections on local `port` process `pid` holds (from /proc)."""
    inodes = set()
    for fd in glob.glob(f"/proc/{pid}/fd/*"):
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if local_port == port and fields[3] == "01" and fields[9] in inodes:
                    count += 1
    return count


# --- Reflex internals the browser tests look at (reflex 0.10.1) -------------------------------------------

REFLEX_SOCKET_RECORD = "token_manager_socket_record_{}"  # reflex.utils.token_manager.RedisTokenManager


def reflex_socket_owner(redis_url: str, session: str) -> str | None:
    """The Reflex instance (one per server worker process) holding the websocket of a browser session."""
    import pickle

    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        record = client.get(REFLEX_SOCKET_RECORD.format(session))
    finally:
        client.close()
    return pickle.loads(record).instance_id if record else None  # our own Redis


def forget_reflex_sockets(redis_url: str, *sessions: str) -> None:
    """Remove the websocket records of browser sessions, as a clean shutdown of their server does."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.delete(*(REFLEX_SOCKET_RECORD.format(session) for session in sessions))
    finally:
        client.close()

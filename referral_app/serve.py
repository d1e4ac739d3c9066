"""Production server for a prebuilt front end: `python -m referral_app.serve` (the container's command).

`reflex run --env prod` compiles the app and builds the front end on every start, which needs Node.js and a
writable `.web`. A container builds the front end once, at image build time (`reflex export --frontend-only`),
and then only serves: the backend, its websocket, the JSON API and the built pages, all on PORT.

This runs Reflex's own production server (Granian) with the front end mounted and compiling switched off.
Workers follow Reflex's rule: one without Redis; with REFLEX_REDIS_URL (state shared in Redis) several,
2 x CPUs + 1 capped at 8; GRANIAN_WORKERS overrides. Every worker applies migrations in its lifespan
(under a lock) before it accepts connections; see referral_app/lifespan.py.

Metrics: with METRICS_PORT, this (granian's supervising) process serves every worker's metrics on
METRICS_HOST:METRICS_PORT (loopback by default), read from PROMETHEUS_MULTIPROC_DIR: the directory given, emptied
on start, or a temporary one removed on exit (see referral_app/core/metrics.py).

Settings: PORT (3000), HOST (0.0.0.0), LOG_LEVEL (info), LOG_FORMAT (text, or json), GRANIAN_WORKERS, REFLEX_REDIS_URL,
REDIS_WAIT_ATTEMPTS (30, one second apart), PROMETHEUS_MULTIPROC_DIR, and everything in
referral_app/core/config.py (METRICS_PORT, METRICS_HOST among them).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from referral_app.core.config import Settings, get_settings
from referral_app.core.log_setup import configure_logging, log_format

log = logging.getLogger("referral_app.serve")

# Reflex reads these; the double underscore marks them as Reflex internals (reflex_base/environment.py).
SERVE_ENV = {
    "REFLEX_ENV_MODE": "prod",
    "__REFLEX_SKIP_COMPILE": "true",
    "__REFLEX_MOUNT_FRONTEND_COMPILED_APP": "true",
}


# Granian's own allocator (jemalloc, linked into it) keeps freed pages for later allocations. Its default keeps
# them 10 s; purging at once (decay 0) gave a burst of large websocket frames back at once, but cost an madvise
# and the page faults after it on every request: GET /api/health 164 against 185 us of worker CPU per request
# (medians of five alternating pairs). With 1 s, freed pages go back a second after, at the worker's next
# allocations (jemalloc's purging thread does not survive granian's fork). Read when granian is first loaded,
# so it is set before that (here, and in rxconfig.py for `reflex run`).
ALLOCATOR_ENV = {"_RJEM_MALLOC_CONF": "dirty_decay_ms:1000,muzzy_decay_ms:0"}


def configure_allocator() -> None:
    for name, value in ALLOCATOR_ENV.items():
        os.environ.setdefault(name, value)


def frontend_index(web_dir: Path) -> Path:
    return web_dir / "build" / "client" / "index.html"


def wait_for_redis(url: str, *, attempts: int, delay: float = 1.0) -> None:
    """Bounded retry while Redis starts; exits with a clear message when it never answers."""
    from redis import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    where = url.split("@")[-1]  # no credentials in the log
    try:
        for attempt in range(1, attempts + 1):
            try:
                client.ping()
            except RedisError as exc:
                if attempt == attempts:
                    log.error("redis %s unreachable after %d attempts, giving up: %s", where, attempts, exc)
                    raise SystemExit(1) from None
                log.warning("waiting for redis %s (attempt %d/%d): %s", where, attempt, attempts, exc)
                time.sleep(delay)
            else:
                log.info("redis %s is reachable", where)
                return
    finally:
        client.close()


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_metrics_dir() -> tuple[Path, bool]:
    """The directory the workers write their metrics into, exported for them: PROMETHEUS_MULTIPROC_DIR emptied
    (an earlier run's files would add to this one's counts), or a new temporary one. Must run before anything
    imports prometheus_client: it picks multiprocess mode when first imported. Returns it and whether it is
    ours to remove."""
    given = os.environ.get(MULTIPROC_ENV)
    if not given:
        path = Path(tempfile.mkdtemp(prefix="referral_app-metrics-"))
        os.environ[MULTIPROC_ENV] = str(path)
        return path, True
    path = Path(given)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    return path, False


def main() -> None:
    configure_logging()
    configure_allocator()
    for name, value in SERVE_ENV.items():
        os.environ[name] = value
    os.environ.setdefault("REFLEX_TELEMETRY_ENABLED", "false")
    if log_format() == "json":  # Reflex's and granian's lines too: one JSON object per line throughout
        os.environ.setdefault("REFLEX_LOG_JSON", "true")
    settings = get_settings()
    metrics_dir, own_dir = prepare_metrics_dir() if settings.metrics_port is not None else (None, False)
    try:
        serve(settings, metrics_dir)
    finally:
        if metrics_dir is not None and own_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def serve(settings: Settings, metrics_dir: Path | None) -> None:
    from reflex.utils import exec as reflex_exec
    from reflex.utils import prerequisites, processes
    from reflex_base.constants import LogLevel

    from referral_app.lifespan import refuse_unsafe_start

    refuse_unsafe_start()
    index = frontend_index(prerequisites.get_web_dir())
    if not index.is_file():
        log.error("no prebuilt front end at %s: run `reflex export --frontend-only --no-zip` first", index)
        raise SystemExit(1)

    host = os.environ.setdefault("HOST", "0.0.0.0")  # noqa: S104 - a container listens on all interfaces
    port = int(os.environ.get("PORT", "3000"))
    level = LogLevel(os.environ.get("LOG_LEVEL", "info").lower())

    redis_url = prerequisites.parse_redis_url()
    if redis_url:
        wait_for_redis(redis_url, attempts=int(os.environ.get("REDIS_WAIT_ATTEMPTS", "30")))
    workers = int(os.environ.get("GRANIAN_WORKERS") or processes.get_num_workers())
    if workers > 1 and not redis_url:
        log.warning("%d workers without REFLEX_REDIS_URL: web app state is not shared between them", workers)
    os.environ["GRANIAN_WORKERS"] = str(workers)
    log.info(
        "serving on %s:%d with %d worker(s), web app state in %s",
        host,
        port,
        workers,
        "redis" if redis_url else "this process",
    )
    if metrics_dir is not None:
        from referral_app.core.metrics import ReadOnScrape, start_metrics_server
        from referral_app.services import webhooks

        queue = ReadOnScrape(
            "webhook_queue_depth", "Webhook deliveries waiting to be sent (pending).", webhooks.pending_count
        )
        start_metrics_server(settings.metrics_host, settings.metrics_port or 0, metrics_dir, queue)
    sys.stdout.flush()
    reflex_exec.run_granian_backend_prod(host, port, level)


if __name__ == "__main__":
    main()

"""Prometheus metrics: every metric of the service is defined here, with a small function per thing counted.

The services call these functions (services/audit.py counts the audited events when they are committed); the
ASGI layer in front of the app counts each request (`count_request`) and each open websocket (`tab_connected`).
Label values are limit names, error codes and route templates, never a phone, a user, a code or a raw path:
`_label` turns anything else into "other".

Several worker processes: prometheus-client's multiprocess mode. The serve entry point (serve.py) prepares
PROMETHEUS_MULTIPROC_DIR before this module is imported (the library chooses its mode when it is first
imported), then calls `start_metrics_server` in the supervising process, which reads every worker's files on
each scrape and first drops the live gauges of workers that have died.
Without that directory, each process counts for itself (what `reflex run` and the tests in-process do).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi.routing import APIRoute
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.routing import Mount, Route, WebSocketRoute

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from starlette.types import Scope

log = logging.getLogger(__name__)

PREFIX = "referral_app_"

# --- the product ------------------------------------------------------------------------------------------
_CODES_SENT = Counter(PREFIX + "codes_sent", "Login codes sent (the SMS went out, or a test number's code).")
_CODES_REFUSED = Counter(
    PREFIX + "codes_refused", "Send-code requests refused, by the limit or rule that refused them.", ["reason"]
)
_SMS_FAILURES = Counter(
    PREFIX + "sms_failures", "Codes whose SMS no provider took (the code was withdrawn); per provider: _sms_total."
)
_VERIFICATIONS = Counter(
    PREFIX + "verifications",
    "Code verifications by result: success, the error answered after the code was checked (invalid_code,"
    " too_many_attempts, rate_limited), or the limit that refused it unchecked (phone_locked, verify_ip_limit).",
    ["result"],
)
_PHONES_LOCKED = Counter(PREFIX + "phones_locked", "Phones (or a phone's device) locked after wrong codes.")
_SIGN_INS = Counter(PREFIX + "sign_ins", "Successful sign-ins, new users included.")
_NEW_USERS = Counter(PREFIX + "new_users", "Users created by their first sign-in.")
_INVITE_ACTIVATIONS = Counter(PREFIX + "invite_activations", "Invite codes activated.")
_SMS = Counter(
    PREFIX + "sms",
    "SMS by provider and status: each provider's answer to a send (its status, or `error` when it failed and the"
    " next one was tried), then each later status its receipts or status queries reported.",
    ["provider", "status"],
)
_TABS = Gauge(
    PREFIX + "websocket_tabs", "Web-app tabs connected now (websockets open).", multiprocess_mode="livesum"
)
_TAB_CONNECTS = Counter(PREFIX + "websocket_connects", "Websocket connections to the app (refused ones too).")

# --- HTTP ---------------------------------------------------------------------------------------------------
_REQUESTS = Counter(
    PREFIX + "http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
_LATENCY = Histogram(
    PREFIX + "http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
UNMATCHED_ROUTE = "unmatched"  # a path no route took (a 404): never the raw path

_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,49}")
OTHER = "other"


def _label(value: str | None) -> str:
    """A label value as it may appear: an identifier (a limit, an error code, an exception class), else
    "other" — so a phone, a code or free text never becomes a label."""
    return value if value is not None and _LABEL.fullmatch(value) else OTHER


def code_sent() -> None:
    _CODES_SENT.inc()


def code_refused(reason: str | None) -> None:
    _CODES_REFUSED.labels(_label(reason)).inc()


def sms_failed() -> None:
    _SMS_FAILURES.inc()


VERIFIED = "success"


def verification(result: str | None) -> None:
    _VERIFICATIONS.labels(_label(result)).inc()


def sms_status(provider: str, status: str) -> None:
    _SMS.labels(_label(provider), _label(status)).inc()


SMS_ERROR = "error"


def phone_locked() -> None:
    _PHONES_LOCKED.inc()


def signed_in() -> None:
    _SIGN_INS.inc()


def new_user() -> None:
    _NEW_USERS.inc()


def invite_activated() -> None:
    _INVITE_ACTIVATIONS.inc()


def tab_connected() -> None:
    _TAB_CONNECTS.inc()
    _TABS.inc()


def tab_disconnected() -> None:
    _TABS.dec()


def _route_of(scope: Scope) -> str:
    """The template of the route that took the request (Starlette and FastAPI put it into the scope), never the
    path asked for. A FastAPI route's `path` is relative to the router it was included from (FastAPI matches
    level by level), so the prefix is the path's leading segments: the API's routes have one segment per
    parameter."""
    route = scope.get("route")
    if isinstance(route, APIRoute):
        path: str = scope["path"]
        kept = path.count("/") - route.path.count("/")
        return "/".join(path.split("/")[: kept + 1]) + route.path if kept >= 0 else UNMATCHED_ROUTE
    if isinstance(route, Mount):
        return route.path + "/{path}"
    if isinstance(route, Route | WebSocketRoute):
        return route.path
    return UNMATCHED_ROUTE


# Each (method, route, status)'s counter and latency children, kept: `labels()` on every request cost as much
# as the counting itself. Bounded, as the labels are (route templates, methods, statuses).
_request_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}


def _request_metrics(method: str, route: str, status: str) -> tuple[Any, Any]:
    key = (method, route, status)
    children = _request_children.get(key)
    if children is None:
        children = _request_children[key] = (
            _REQUESTS.labels(method, route, status),
            _LATENCY.labels(method, route),
        )
    return children


def count_request(scope: Scope, status: int, started: float) -> None:
    """Count an HTTP request answered with `status` under its route template, with its latency since `started`
    (a `time.perf_counter()` reading taken when it arrived)."""
    requests, latency = _request_metrics(_label(scope["method"]), _route_of(scope), str(status))
    requests.inc()
    latency.observe(time.perf_counter() - started)


# --- exposition ---------------------------------------------------------------------------------------------


def _pid_of(file: Path) -> int | None:
    tail = file.stem.rpartition("_")[2]
    return int(tail) if tail.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_dead_workers(path: Path) -> list[int]:
    """Drop the live gauges (tabs connected) of worker processes that are gone: a worker that crashed or was
    replaced has no tabs any more. Its counters stay: what it counted happened. Returns the pids marked."""
    dead = sorted({pid for file in path.glob("gauge_live*.db") if (pid := _pid_of(file)) and not _alive(pid)})
    for pid in dead:
        multiprocess.mark_process_dead(pid, str(path))  # type: ignore[no-untyped-call]
    return dead


class _WorkersCollector(Collector):
    """Every worker's metrics, read from the multiprocess directory after the dead workers are marked."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(self.registry, path=str(path))  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        mark_dead_workers(self.path)
        return self.registry.collect()


class ReadOnScrape(Collector):
    """A gauge read when scraped (a count in the database), kept by no process; a failed read leaves it out of
    that scrape, with a warning."""

    def __init__(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        self.name, self.documentation, self.read = PREFIX + name, documentation, read

    def collect(self) -> Iterable[Metric]:
        try:
            value = self.read()
        except Exception as exc:
            log.warning("metric %s not read: %s", self.name, type(exc).__name__)
            return []
        gauge = GaugeMetricFamily(self.name, self.documentation)
        gauge.add_metric([], value)
        return [gauge]


def workers_registry(path: Path, *read_on_scrape: ReadOnScrape) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(_WorkersCollector(path))
    for collector in read_on_scrape:
        registry.register(collector)
    return registry


def start_metrics_server(host: str, port: int, path: Path, *read_on_scrape: ReadOnScrape) -> None:
    """Serve /metrics (any path, in fact: prometheus-client's server) for all workers on host:port, from a
    daemon thread of this (the supervising) process, with the gauges read on each scrape."""
    start_http_server(port, addr=host, registry=workers_registry(path, *read_on_scrape))
    log.info("metrics on http://%s:%d/metrics (workers' files in %s)", host, port, path)

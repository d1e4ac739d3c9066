"""A webhook receiver over real HTTP on a loopback port, as a Standard Webhooks consumer writes one: every request
is kept with its headers and body, and its signature checked with the spec's reference library.

Its answers are scripted: `answers` is a queue of (status, headers, delay seconds) used one per request, then
`default` for the rest."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import standardwebhooks

Answer = tuple[int, dict[str, str], float]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: Any  # the payload the reference library returned, or the exception it raised


@dataclass
class Receiver:
    secret: str
    port: int = 0
    default: Answer = (204, {}, 0.0)
    answers: deque[Answer] = field(default_factory=deque)
    requests: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    gate: threading.Event | None = None  # when set up, every answer waits until it is opened (`gate.set()`)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def verified(self) -> list[dict[str, Any]]:
        """The payloads whose signatures checked out, in arrival order; fails on any that did not."""
        bad = [r for r in self.requests if isinstance(r.verified, Exception)]
        assert not bad, [(r.headers, r.verified) for r in bad]
        return [r.verified for r in self.requests]

    def wait_for(self, count: int, timeout: float = 60) -> list[Received]:
        """Block until `count` requests have arrived (fails after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self.requests)} of {count} webhook requests arrived"
                self.arrived.wait(left)
            return list(self.requests)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    verified: Any = standardwebhooks.Webhook(receiver.secret).verify(body, headers)
                except Exception as exc:
                    verified = exc
                with receiver.arrived:
                    status, answer_headers, delay = (
                        receiver.answers.popleft() if receiver.answers else receiver.default
                    )
                    receiver.requests.append(Received(self.path, headers, body, verified))
                    receiver.arrived.notify_all()
                time.sleep(delay)
                if receiver.gate is not None:
                    receiver.gate.wait(timeout=120)
                answer = b'{"ok": true}'
                self.send_response(status)
                for name, value in answer_headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@contextlib.contextmanager
def running_receiver(secret: str, port: int = 0, **options: Any) -> Iterator[Receiver]:
    """A receiver listening on 127.0.0.1 (`port`, or a free one) until the block ends."""
    receiver = Receiver(secret=secret, port=port, **options)
    server = ThreadingHTTPServer(("127.0.0.1", port), receiver._handler())
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

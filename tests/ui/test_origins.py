"""A page of another site (another origin on loopback) tries to use the app from a visitor's browser: open its
websocket and call its API. Both fail; the same script on the app's own page works."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Awaitable, Callable, Iterator

import pytest
from playwright.async_api import Page

from tests.support.server import RunningServer

pytestmark = pytest.mark.server

# Run in the page: try the websocket handshake and a send-code request against the app.
TRY_THE_APP = """async ([app, phone]) => {
  const websocket = await new Promise((resolve) => {
    const url = app.replace("http", "ws") + "/_event/?EIO=4&transport=websocket&token=t" + Math.random();
    const ws = new WebSocket(url);
    ws.onopen = () => { ws.close(); resolve("open"); };
    ws.onerror = () => resolve("refused");
  });
  let api;
  try {
    const response = await fetch(app + "/api/v1/auth/code", {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({phone}),
    });
    api = response.status;
  } catch (error) {
    api = "blocked";
  }
  return {websocket, api};
}"""


@contextlib.contextmanager
def foreign_site() -> Iterator[str]:
    """A blank page served from another port: another origin."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><title>another site</title>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


async def test_another_site_cannot_use_the_app_but_its_own_page_can(
    new_page: Callable[[], Awaitable[Page]], live_server: RunningServer
) -> None:
    page = await new_page()
    with foreign_site() as url:
        await page.goto(url)
        assert await page.evaluate(TRY_THE_APP, [live_server.base_url, "+79180000001"]) == {
            "websocket": "refused",
            "api": "blocked",
        }
    await page.goto(live_server.base_url + "/")
    assert await page.evaluate(TRY_THE_APP, [live_server.base_url, "+79180000002"]) == {
        "websocket": "open",
        "api": 200,
    }

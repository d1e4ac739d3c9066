"""deploy/Caddyfile in front of two app servers (serve.py, as in deploy/compose.yaml) on PostgreSQL and Redis,
over HTTPS from Caddy's local CA (`tls internal`), on free ports: sign-in through the API and through the web
app's websocket in Chromium (trusting that CA), the client address the app records is the browser's, both app
servers serve, and stopping one of them mid-way loses no sign-in.

The site is `referral.test`, which Chromium and the test's HTTP client reach on ::1 while Caddy reaches the
app servers on 127.0.0.1: so the address the app records tells the browser from Caddy."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from playwright.async_api import Page, async_playwright, expect

from tests.resilience.conftest import postgres_database, require_redis
from tests.support.ports import free_port
from tests.support.procfs import children_of, established_connections
from tests.support.production import build_front_end, start_production_server
from tests.support.server import RunningServer, copy_project, server_environment, stop_gracefully, stop_server
from tests.ui.conftest import CHROMIUM_ARGS, chromium_path

pytestmark = pytest.mark.server

REPO_ROOT = Path(__file__).resolve().parents[2]
DOMAIN = "referral.test"
BROWSER_ADDRESS = "::1"  # where the test's clients come from; Caddy comes from 127.0.0.1
WAIT = 30  # seconds: a timeout for what must happen, not a measurement


@dataclass
class Stack:
    https_port: int
    http_port: int
    ca: Path  # Caddy's local root certificate
    apps: list[RunningServer]
    database_url: str
    work: Path

    @property
    def origin(self) -> str:
        return f"https://{DOMAIN}:{self.https_port}"

    def client(self) -> httpx.AsyncClient:
        """HTTPS to Caddy on ::1 for referral.test (Host and SNI), verified against Caddy's local CA."""
        return httpx.AsyncClient(
            base_url=f"https://[{BROWSER_ADDRESS}]:{self.https_port}",
            headers={"Host": f"{DOMAIN}:{self.https_port}"},
            verify=ssl.create_default_context(cafile=self.ca),
            timeout=WAIT,
        )

    def login_addresses(self, phone: str) -> list[str | None]:
        engine = sa.create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.text("SELECT client_ip FROM audit_events WHERE event = 'login' AND phone = :phone"),
                    {"phone": phone},
                )
                return [row[0] for row in rows]
        finally:
            engine.dispose()


async def request(client: httpx.AsyncClient, method: str, path: str, **kwargs: object) -> httpx.Response:
    return await client.request(method, path, extensions={"sni_hostname": DOMAIN}, **kwargs)  # type: ignore[arg-type]


def start_caddy(work: Path, *, http_port: int, https_port: int, upstreams: list[int]) -> subprocess.Popen[bytes]:
    env = server_environment(
        DOMAIN=DOMAIN,
        UPSTREAMS=" ".join(f"127.0.0.1:{port}" for port in upstreams),
        CADDY_TLS="tls internal",
        HTTP_PORT=str(http_port),
        HTTPS_PORT=str(https_port),
        XDG_DATA_HOME=str(work / "caddy-data"),  # its local CA and certificates: the test's own
        XDG_CONFIG_HOME=str(work / "caddy-config"),
    )
    with open(work / "caddy.log", "ab") as log:
        return subprocess.Popen(
            ["caddy", "run", "--config", str(REPO_ROOT / "deploy" / "Caddyfile"), "--adapter", "caddyfile"],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_for_https(stack: Stack, caddy: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if caddy.poll() is not None:
            raise AssertionError(f"caddy exited: {(stack.work / 'caddy.log').read_text()[-3000:]}")
        if stack.ca.is_file():
            try:
                with httpx.Client(verify=ssl.create_default_context(cafile=stack.ca), timeout=5) as client:
                    answer = client.get(
                        f"https://[{BROWSER_ADDRESS}]:{stack.https_port}/api/health",
                        headers={"Host": DOMAIN},
                        extensions={"sni_hostname": DOMAIN},
                    )
                if answer.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
        time.sleep(0.5)
    raise AssertionError(f"caddy did not answer over HTTPS: {(stack.work / 'caddy.log').read_text()[-3000:]}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    redis_url = require_redis()
    work = tmp_path_factory.mktemp("deploy")
    https_port, http_port = free_port(), free_port()
    project = copy_project(REPO_ROOT, work / "referral_app")
    # As the image is built for a domain: the front end's backend address is the public one.
    build_front_end(project, work, REFLEX_API_URL=f"https://{DOMAIN}:{https_port}")
    with postgres_database() as database_url:
        env = {
            "DATABASE_URL": database_url,
            "REFLEX_REDIS_URL": redis_url,
            "GRANIAN_WORKERS": "1",
            "TRUSTED_PROXIES": "127.0.0.1",  # Caddy, and only Caddy
            "ALLOWED_ORIGINS": f"https://{DOMAIN}:{https_port}",
            "REFLEX_DEPLOY_URL": f"https://{DOMAIN}:{https_port}",
            "CODE_MAX_PER_IP_PER_HOUR": "1000",
            "SMS_DELAY_MIN": "0.1",
            "SMS_DELAY_MAX": "0.3",
        }
        migrated = subprocess.run(
            ["python", "-m", "referral_app.cli", "migrate"],
            cwd=project,
            env=server_environment(**env, PATH=f"{project / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert migrated.returncode == 0, migrated.stderr
        apps: list[RunningServer] = []
        caddy = None
        try:
            for _ in range(2):
                apps.append(start_production_server(project, work, **env))
            caddy = start_caddy(work, http_port=http_port, https_port=https_port, upstreams=[a.port for a in apps])
            ca = work / "caddy-data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
            built = Stack(https_port, http_port, ca, apps, database_url, work)
            wait_for_https(built, caddy)
            yield built
        finally:
            if caddy is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(caddy.pid, signal.SIGTERM)
                caddy.wait(timeout=20)
            for app in apps:
                stop_server(app)


async def sign_in_over_api(stack: Stack, client: httpx.AsyncClient, phone: str) -> httpx.Response:
    sent = await request(client, "POST", "/api/v1/auth/code", json={"phone": phone})
    assert sent.status_code == 200, sent.text
    return await request(
        client, "POST", "/api/v1/auth/token", json={"phone": phone, "code": sent.json()["debug_code"]}
    )


async def test_https_redirect_hsts_compression_and_body_cap(stack: Stack) -> None:
    async with stack.client() as client:
        health = await request(client, "GET", "/api/health")
        assert health.headers["strict-transport-security"].startswith("max-age=31536000")
        page = await request(client, "GET", "/", headers={"Accept-Encoding": "gzip"})
        assert page.status_code == 200 and page.headers.get("content-encoding") in ("gzip", "zstd")
        # Over the cap: Caddy stops reading and answers 413, or 502 when the app already answered the request
        # (Caddy 2.6); nothing over MAX_BODY_BYTES ever reaches a route either way.
        huge = await request(
            client,
            "POST",
            "/api/v1/auth/code",
            content=b"{" + b" " * 2_000_000 + b"}",
            headers={"Content-Type": "application/json"},
        )
        assert huge.status_code in (413, 502)
    async with httpx.AsyncClient(timeout=WAIT) as plain:
        redirect = await plain.get(
            f"http://[{BROWSER_ADDRESS}]:{stack.http_port}/profile", headers={"Host": DOMAIN}
        )
    assert redirect.status_code in (301, 308)
    # To the same path over HTTPS (Caddy 2.6 names no port in it: 443 in production).
    assert re.fullmatch(
        rf"https://{re.escape(DOMAIN)}(:{stack.https_port})?/profile", redirect.headers["location"]
    )


async def test_sign_in_over_the_api_records_the_client_not_caddy(stack: Stack) -> None:
    phone = "+79165550101"
    async with stack.client() as client:
        signed_in = await sign_in_over_api(stack, client, phone)
    assert signed_in.status_code == 200 and signed_in.json()["access_token"]
    assert stack.login_addresses(phone) == [BROWSER_ADDRESS]


@contextlib.asynccontextmanager
async def chromium_trusting(stack: Stack) -> AsyncIterator[object]:
    """Chromium with an NSS database of its own that trusts Caddy's local CA, resolving referral.test to ::1."""
    home = stack.work / "browser-home"
    nssdb = home / ".pki" / "nssdb"
    if not nssdb.is_dir():
        nssdb.mkdir(parents=True)
        for command in (
            ["-N", "--empty-password"],
            ["-A", "-t", "C,,", "-n", "caddy-local", "-i", str(stack.ca)],
        ):
            subprocess.run(
                ["certutil", "-d", f"sql:{nssdb}", *command],
                check=True,
                capture_output=True,
                stdin=subprocess.DEVNULL,
                timeout=30,
            )
    args = [*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {DOMAIN} [{BROWSER_ADDRESS}]"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path(), args=args, env={**os.environ, "HOME": str(home)}
        )
        try:
            yield browser
        finally:
            await browser.close()


async def test_sign_in_through_the_web_app_in_chromium(stack: Stack) -> None:
    phone = "+79165550202"
    async with chromium_trusting(stack) as browser:
        context = await browser.new_context(base_url=stack.origin)  # type: ignore[attr-defined]
        page = await context.new_page()
        await page.goto("/")
        await sign_in_on_page(page, phone)
        await context.close()
    assert stack.login_addresses(phone) == [BROWSER_ADDRESS]  # the browser's address, not Caddy's


async def sign_in_on_page(page: Page, phone: str) -> None:
    """On the sign-in page: the number typed, the code asked for, the code the demo shows typed in, and the
    profile shown."""
    await expect(page.locator("#phone-input")).to_be_visible(timeout=WAIT * 1000)
    await page.fill("#phone-input", phone)
    await page.click("#send-code")
    await expect(page.locator("#code-input")).to_be_visible(timeout=WAIT * 1000)
    code = re.findall(r"\d{4}", await page.locator("#demo-code").text_content() or "")[-1]
    await page.fill("#code-input", code)
    await expect(page).to_have_url(re.compile(r"/profile$"), timeout=WAIT * 1000)


async def wait_until_caddy_finds_down(stack: Stack, app: RunningServer) -> None:
    """Until Caddy's active health check has failed on `app` (its log line marks the server down)."""
    address = f'"host":"127.0.0.1:{app.port}"'
    for _ in range(WAIT * 10):
        lines = (stack.work / "caddy.log").read_text().splitlines()
        if any("HTTP request failed" in line and address in line for line in lines):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"Caddy never found 127.0.0.1:{app.port} down")


def websockets_held(app: RunningServer) -> int:
    (worker,) = children_of(app.process.pid)
    return established_connections(worker, app.port)  # Caddy keeps no idle connections: these are websockets


async def test_both_app_servers_serve_and_stopping_one_loses_no_sign_in(stack: Stack) -> None:
    phones = [f"+791655503{n:02d}" for n in range(12)]
    async with stack.client() as client:
        first = await asyncio.gather(*(sign_in_over_api(stack, client, phone) for phone in phones[:6]))
    assert [a.status_code for a in first] == [200] * 6
    served = [app.log().count("login code sent") for app in stack.apps]
    assert all(served), f"an app server served no sign-in: {served}"

    async with chromium_trusting(stack) as browser:
        contexts = [await browser.new_context(base_url=stack.origin) for _ in range(4)]  # type: ignore[attr-defined]
        pages = [await context.new_page() for context in contexts]
        for page in pages:
            await page.goto("/")
            await expect(page.locator("#phone-input")).to_be_visible(timeout=WAIT * 1000)
        stopping, staying = stack.apps
        assert websockets_held(stopping) >= 1  # some of these tabs are on the server that stops
        registered_before = staying.log().count("registered +")
        stop_gracefully(stopping)
        for page, phone in zip(pages, phones[6:10]):  # their websockets come back through Caddy, to the other
            await sign_in_on_page(page, phone)
        for context in contexts:
            await context.close()

    # Caddy 2.6 (Debian's) cannot send a POST again after a failed connection (the body is closed: fixed in
    # Caddy 2.11.2, which deploy/compose.yaml uses). So the API's POSTs wait until its health check has found
    # the stopped server down (the web app's reconnects above are GETs, which it retries at once).
    await wait_until_caddy_finds_down(stack, stopping)
    async with stack.client() as client:
        after = await asyncio.gather(*(sign_in_over_api(stack, client, phone) for phone in phones[10:]))
    assert [a.status_code for a in after] == [200] * 2
    # Every sign-in finished after the stop did so on the other server: the four web ones and the two here.
    assert staying.log().count("registered +") == registered_before + 6

"""Transport-level behaviour: JSON errors for every failure, body limits, OpenAPI documentation."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from referral_app.core.config import Settings
from tests.helpers import configure


async def test_unknown_api_routes_answer_json_404(client: httpx.AsyncClient) -> None:
    for method, path in [("GET", "/api/nope"), ("POST", "/api/v1/nothing/here"), ("DELETE", "/api/v2/profile")]:
        response = await client.request(method, path)
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found.", "code": "not_found"}


async def test_wrong_method_answers_405_with_every_allowed_method(client: httpx.AsyncClient) -> None:
    # GET, PATCH and DELETE /api/v1/profile are three routes: Allow must name all, not only the first one.
    for method, path, allow in [
        ("OPTIONS", "/api/v1/profile", "GET, PATCH, DELETE"),
        ("PUT", "/api/v1/profile", "GET, PATCH, DELETE"),
        ("GET", "/api/v1/auth/code", "POST"),
        ("PUT", "/api/health", "GET"),
    ]:
        response = await client.request(method, path)
        assert response.status_code == 405, (method, path)
        assert response.json() == {"detail": "Method not allowed.", "code": "method_not_allowed"}
        assert response.headers["Allow"] == allow, (method, path)


async def test_broken_json_and_wrong_content_type(client: httpx.AsyncClient) -> None:
    broken = await client.post(
        "/api/v1/auth/code", content=b'{"phone": ', headers={"Content-Type": "application/json"}
    )
    assert (broken.status_code, broken.json()["code"]) == (422, "validation_error")
    form = await client.post("/api/v1/auth/code", data={"phone": "+79123456789"})
    assert (form.status_code, form.json()["code"]) == (422, "validation_error")
    array = await client.post("/api/v1/auth/code", json=[1, 2])
    assert (array.status_code, array.json()["code"]) == (422, "validation_error")


async def test_oversized_bodies_get_413(client: httpx.AsyncClient, settings: Settings) -> None:
    big = {"phone": "+79123456789", "region": "RU", "padding": "x" * 70_000}
    response = await client.post("/api/v1/auth/code", json=big)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"

    async def chunks():  # no Content-Length: the limit applies while streaming
        for _ in range(100):
            yield b"x" * 1024

    streamed = await client.post(
        "/api/v1/auth/code", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert (streamed.status_code, streamed.json()["code"]) == (413, "payload_too_large")


async def test_hostile_strings_are_rejected_cleanly(client: httpx.AsyncClient) -> None:
    for phone in ["'; DROP TABLE users; --", "\u0000\u0001", "😀" * 10, "+7" + "9" * 30, "١٢٣٤٥٦٧٨٩٠"]:
        response = await client.post("/api/v1/auth/code", json={"phone": phone})
        assert 400 <= response.status_code < 500, phone
        assert response.json()["code"] in ("invalid_phone", "validation_error")


async def test_database_outage_gives_503_json(settings: Settings) -> None:
    from referral_app.api.main import create_api
    from referral_app.core.db import dispose_engines

    configure(settings, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none", database_connect_timeout=1)
    transport = httpx.ASGITransport(app=create_api(), client=("203.0.113.7", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        response = await c.post("/api/v1/auth/code", json={"phone": "+79123456789"})
        health = await c.get("/api/health")
    dispose_engines()
    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"
    assert response.headers["Retry-After"]
    assert health.status_code == 503


async def test_a_database_error_that_is_no_outage_gives_500_and_is_logged(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A database without its tables (a migration not run) is a defect to fix, not an outage to wait out: 500
    `internal_error`, with the error's class and message in the log, and never the statement's parameters."""
    from referral_app.api.main import create_api
    from referral_app.core.db import dispose_engines

    configure(settings, database_url=f"sqlite:///{tmp_path / 'unmigrated.db'}")
    transport = httpx.ASGITransport(app=create_api(), client=("203.0.113.7", 1))
    caplog.set_level(logging.ERROR)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        response = await c.post("/api/v1/auth/code", json={"phone": "+79123456789"})
    dispose_engines()
    assert response.status_code == 500
    assert response.json() == {"detail": "Something went wrong on our side.", "code": "internal_error"}
    assert "Retry-After" not in response.headers
    assert "OperationalError (sqlite3.OperationalError): no such table:" in caplog.text
    assert "POST /api/v1/auth/code" in caplog.text
    assert "9123456789" not in caplog.text and "[parameters" not in caplog.text


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_openapi_documents_every_endpoint_and_its_errors(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    expected = {
        ("post", "/api/v1/auth/code"): {"200", "422", "429"},
        ("post", "/api/v1/auth/token"): {"200", "400", "422", "429"},
        ("post", "/api/v1/auth/logout"): {"204", "401"},
        ("get", "/api/v1/profile"): {"200", "401"},
        ("patch", "/api/v1/profile"): {"200", "401", "422"},
        ("post", "/api/v1/profile/invite"): {"200", "400", "401", "404", "409", "422"},
        ("get", "/api/v1/profile/referrals"): {"200", "401", "422"},
        ("get", "/api/v1/profile/invite-stats"): {"200", "401"},
        ("get", "/api/v1/share/{invite_code}"): {"303", "422"},
    }
    for (method, path), statuses in expected.items():
        operation = paths[path][method]
        assert statuses <= set(operation["responses"]), (method, path, operation["responses"].keys())
        assert operation["summary"]
        for status in statuses - {"200", "204", "303"}:
            examples = operation["responses"][status]["content"]["application/json"]["examples"]
            assert all("code" in e["value"] for e in examples.values())
    invite_409 = paths["/api/v1/profile/invite"]["post"]["responses"]["409"]["content"]["application/json"]
    assert set(invite_409["examples"]) == {"invite_already_activated", "referral_cycle"}
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


async def test_documented_limits_are_the_configured_ones(client: httpx.AsyncClient) -> None:
    """Route descriptions are written from the settings, so they cannot go stale when a limit changes."""
    from referral_app.core.config import get_settings

    s = get_settings()
    paths = (await client.get("/openapi.json")).json()["paths"]
    send = paths["/api/v1/auth/code"]["post"]["description"]
    assert f"Sends a {s.code_length}-digit code" in send
    assert f"{s.code_max_per_phone_per_hour} per hour per phone, {s.code_max_per_ip_per_hour} per hour" in send
    token = paths["/api/v1/auth/token"]["post"]["description"]
    assert f"after {s.code_max_attempts} wrong tries" in token
    assert f"after {s.phone_max_failures} failures the phone is locked" in token
    assert f"budget of {s.phone_max_failures_per_30_days} wrong guesses per 30 days" in token
    assert f"fail {s.verify_max_per_ip_per_hour} times an hour" in token
    invite = paths["/api/v1/profile/invite"]["post"]["description"]
    assert f"after {s.invite_max_misses_per_user_per_hour} unknown codes an hour per user" in invite
    name = paths["/api/v1/profile"]["patch"]["requestBody"]["content"]["application/json"]["schema"]
    name_schema = (await client.get("/openapi.json")).json()["components"]["schemas"]["ProfileUpdate"]
    assert "invalid_name" in name_schema["properties"]["name"]["description"] and name


async def test_swagger_and_redoc_pages(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc"):
        response = await client.get(path)
        assert response.status_code == 200 and "text/html" in response.headers["content-type"]
        assert "/openapi.json" in response.text


_TELEMETRY_PROBE = """
import asyncio, os, sys, tempfile
os.environ["DATABASE_URL"] = "sqlite:///" + tempfile.mkdtemp() + "/t.db"
import httpx
from fastapi import FastAPI
from opentelemetry import trace

asked = []

class Recording(trace.TracerProvider):  # a configured provider, as an OpenTelemetry SDK would install
    def get_tracer(self, *args, **kwargs):
        asked.append(args[0] if args else "")
        return trace.NoOpTracer()

trace.set_tracer_provider(Recording())
from referral_app.api.main import create_api

async def get(app, path):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return (await client.get(path)).status_code

bare = FastAPI()
print(asyncio.run(get(bare, "/nothing")), len(asked))
asked.clear()
print(asyncio.run(get(create_api(), "/nothing")), len(asked))
"""


def test_fastapi_telemetry_is_off() -> None:
    """No OpenTelemetry SDK ships with the app, so FastAPI's own telemetry, on by default, could only check on
    every request that nothing is configured: the API turns it off. A process of its own (the tracer provider
    is global); the bare FastAPI app shows that the probe sees telemetry where it is on."""
    probe = subprocess.run(
        [sys.executable, "-c", _TELEMETRY_PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    assert probe.stdout.split() == ["404", "1", "404", "0"], probe.stderr[-2000:]

"""Fuzzing the whole API from its own OpenAPI document with schemathesis.

Every operation in `/openapi.json` gets generated requests, valid and invalid (schemathesis's positive and
negative modes, plus its explicit-example and coverage phases), sent in-process to the ASGI app on the real
database of the `settings` backend: once without credentials (any `Authorization` header is generated, so
junk tokens are fuzzed too) and once with a live Bearer token obtained through the API. Every response must
pass all of schemathesis's checks: no 5xx; the status code is documented; content type, body and headers
match the documented schema; invalid requests are rejected; 405s list the allowed methods; auth is enforced.

The one check replaced is `positive_data_acceptance`: a schema-valid body may still be refused by a
business rule the schema cannot express (a well-formed but non-existent phone number is `invalid_phone`,
a random code is `invalid_code`, a random invite code is `invite_code_not_found`), all documented. What the
schema does promise is that such a request passes validation, so `schema_valid_requests_pass_validation`
fails any positive case answered with `validation_error` (or a 5xx).

Deterministic: Hypothesis is derandomized (no example database), so CI replays the same requests. The
number of examples per operation is SCHEMATHESIS_MAX_EXAMPLES (default 100: about 1,800 cases per backend).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from requests.structures import CaseInsensitiveDict
from schemathesis.core.parameters import ParameterLocation
from schemathesis.python.asgi import get_client
from schemathesis.specs.openapi.checks import positive_data_acceptance
from starlette.types import ASGIApp, Receive, Scope, Send

from referral_app.api.main import create_api
from referral_app.core.config import Settings

pytestmark = pytest.mark.slow  # about 1,850 requests per backend: not in `make test-unit`

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "100"))
MIN_CASES_PER_BACKEND = 1000
PHONE = "+79990001122"


# The app is built once to serve its OpenAPI document; every request reads the settings of the running
# test (the `settings` fixture), so the same app object talks to SQLite or PostgreSQL. (A fixture-built
# schema, `schemathesis.pytest.from_fixture`, does not work with pytest 9.2: it sets `Node._nodeid`.)
def _with_peer(app: ASGIApp) -> ASGIApp:
    """Starlette's test client says its peer is "testclient", which is no address: the API refuses such a
    client (`unknown_client`). Real servers give the socket's address; so does this wrapper."""

    async def served(scope: Scope, receive: Receive, send: Send) -> None:
        await app({**scope, "client": ("203.0.113.7", 50000)}, receive, send)

    return served


schema = schemathesis.openapi.from_asgi("/openapi.json", _with_peer(create_api()))
OPERATIONS = [op.ok().label for op in schema.get_all_operations()]
AUTH_MODES = ["anonymous", "bearer"]

# Cases run and seconds spent, per (backend, auth mode, operation); summed up at the end of the module.
CASES: Counter[tuple[str, str, str]] = Counter()
STATUSES: Counter[tuple[str, int]] = Counter()
SECONDS: Counter[str] = Counter()


def schema_valid_requests_pass_validation(ctx, response, case) -> bool | None:  # type: ignore[no-untyped-def]
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    if response.status_code >= 500 or (
        response.status_code == 422 and response.json()["code"] == "validation_error"
    ):
        raise AssertionError(f"Schema-valid request refused by validation: {response.status_code} {response.text}")
    return None


@pytest.fixture(params=AUTH_MODES)
def auth(request: pytest.FixtureRequest, settings: Settings) -> dict[str, str] | None:
    """No credentials, or a live token obtained like a real client would (both answers schema-checked)."""
    if request.param == "anonymous":
        return None
    with get_client(schema.app) as http:
        sent = http.post("/api/v1/auth/code", json={"phone": PHONE})
        schema["/api/v1/auth/code"]["POST"].validate_response(sent)
        issued = http.post("/api/v1/auth/token", json={"phone": PHONE, "code": sent.json()["debug_code"]})
        schema["/api/v1/auth/token"]["POST"].validate_response(issued)
    assert issued.status_code == 200, issued.text
    return {"Authorization": f"Bearer {issued.json()['access_token']}"}


@pytest.fixture(scope="module", autouse=True)
def _cases_in_total(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    for backend in sorted({key[0] for key in CASES}):
        total = sum(n for key, n in CASES.items() if key[0] == backend)
        ran = {(mode, op) for (b, mode, op) in CASES if b == backend}
        statuses = ", ".join(f"{s}: {n}" for (b, s), n in sorted(STATUSES.items()) if b == backend)
        if reporter is not None and capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(
                    f"\nschemathesis [{backend}]: {total} cases over {len(ran)} operation/auth pairs "
                    f"in {SECONDS[backend]:.1f} s; statuses {statuses}"
                )
        if ran == {(mode, op) for mode in AUTH_MODES for op in OPERATIONS}:  # the whole run, not a -k subset
            assert total >= MIN_CASES_PER_BACKEND, f"only {total} schemathesis cases ran on {backend}"


@schema.parametrize()
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)
def test_api_conforms_to_its_schema(case, auth: dict[str, str] | None, backend: str) -> None:  # type: ignore[no-untyped-def]
    if auth is not None:
        # The token replaces the generated Authorization header, so a case generated invalid in its headers
        # would not reach the API as generated: such cases are the anonymous run's job.
        if case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER):
            hypothesis.reject()
        case.headers = CaseInsensitiveDict({**(case.headers or {}), **auth})
    started = time.perf_counter()
    response = case.call_and_validate(
        headers=dict(auth) if auth else None,  # explicit credentials: `ignored_auth` probes without them
        excluded_checks=[positive_data_acceptance],
        additional_checks=[schema_valid_requests_pass_validation],
    )
    SECONDS[backend] += time.perf_counter() - started
    CASES[(backend, "bearer" if auth else "anonymous", case.operation.label)] += 1
    STATUSES[(backend, response.status_code)] += 1

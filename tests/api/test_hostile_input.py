"""Hostile input over HTTP: oversized, malformed and weird bodies, headers and query strings in every
field of every endpoint. Each must get a 4xx JSON answer with a `code` (never a 5xx), and a rejected
request must store nothing."""

from __future__ import annotations

import httpx
import pytest

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"phone": "\xff\xfe+79123456789"}', id="not-utf8"),
        pytest.param(b"[" * 30_000 + b"]" * 30_000, id="nested-past-recursion-limit"),
        pytest.param(b'{"phone": ' + b"9" * 5000 + b"}", id="integer-over-4300-digits"),
    ],
)
async def test_unreadable_json_is_a_validation_error(client: httpx.AsyncClient, body: bytes) -> None:
    # FastAPI answers these with a bare 400 "There was an error parsing the body" (undocumented).
    for path in ("/api/v1/auth/code", "/api/v1/auth/token"):
        response = await client.post(path, content=body, headers=JSON)
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "validation_error"
        assert response.json()["errors"] == [
            {"loc": ["body"], "msg": "The body is not readable JSON", "type": "json_invalid"}
        ]

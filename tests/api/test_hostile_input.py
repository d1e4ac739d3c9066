"""Hostile input over HTTP: oversized, malformed and strange bodies, query strings and headers, in every
field of every endpoint. Each gets a 4xx JSON answer with a `code` (never a 5xx), and a rejected request
stores nothing: the rows of users, login_codes and auth_tokens are counted around every request.

(tests/api/test_errors_and_docs.py has the basic cases: one oversized body, one broken JSON, a few phones.)
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlmodel import Session, func, select

from referral_app.core.config import Settings
from referral_app.limits import NAME_MAX_LENGTH
from referral_app.models import AuthToken, LoginCode, User
from tests.helpers import api_login, bearer

pytestmark = pytest.mark.slow  # hundreds of requests, each with rows counted around it: not in `make test-unit`

PHONE = "+79123456789"
OTHER_PHONE = "+79001112233"
LIMIT = 64 * 1024
JSON = {"Content-Type": "application/json"}

# Strings no field accepts as they are (the name field, which is free text, is checked separately below).
HOSTILE_STRINGS = {
    "nul": "\x00",
    "nul-inside": "+7912\x003456789",
    "controls": "".join(chr(c) for c in range(1, 32)) + "\x7f",
    "ansi-escape": "\x1b[2J\x1b[31mred",
    "rtl-override": "\u202eAB12CD\u202c",
    "zero-width": "\u200b\u200d\ufeff",
    "emoji": "😀👨‍👩‍👧‍👦🇷🇺",
    "combining": "a" + "\u0301" * 300,
    "arabic-digits": "١٢٣٤٥٦٧٨٩٠",
    "long": "9" * 10_000,
    "very-long": "x" * 60_000,
    "sql-or": "' OR '1'='1",
    "sql-drop": "'; DROP TABLE users; --",
    "sql-union": "x' UNION SELECT token_hash FROM auth_tokens --",
    "sql-sleep": "1); SELECT pg_sleep(10); --",
    "sql-comment": "*/ OR 1=1 /*",
    "html": "<script>alert(1)</script>",
    "format": "{0}{phone}%s%n%x",
    "url-encoded": "%00%27%22%3B",
    "backslashes": "\\\\\\x00\\u0000",
}

# JSON values that are not strings, written as raw JSON text (json.dumps cannot write most of them).
RAW_VALUES = {
    "huge-float": "1e309",
    "huge-negative-float": "-1e309",
    "bigint-400-digits": "1" + "0" * 400,
    "bigint-5000-digits": "9" * 5000,
    "nan": "NaN",
    "infinity": "-Infinity",
    "true": "true",
    "number": "79123456789",
    "array": '["+79123456789"]',
    "object": '{"$ne": null}',
    "nested-500": "[" * 500 + "]" * 500,
    "nested-20000": "[" * 20_000 + "]" * 20_000,
    "lone-surrogate": '"\\ud800"',
}


def row_counts(session: Session) -> dict[str, int]:
    session.rollback()  # a fresh snapshot
    return {
        m.__tablename__: session.exec(select(func.count()).select_from(m)).one()
        for m in (User, LoginCode, AuthToken)
    }


def assert_json_error(response: httpx.Response, *codes: str) -> dict:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["code"], str)
    if codes:
        assert body["code"] in codes, body
    return body


@pytest.fixture
async def user(client: httpx.AsyncClient) -> dict[str, str]:
    """A signed-in user's Authorization header."""
    return bearer((await api_login(client, OTHER_PHONE))["access_token"])


# Every body field of every endpoint: (method, path, a valid body, the field, needs a token, the answers).
# Codes are checked by the services (a wrong code counts as a failed try, and ten lock the phone).
FIELDS = [
    ("POST", "/api/v1/auth/code", {"phone": PHONE}, "phone", False, {"invalid_phone", "validation_error"}),
    ("POST", "/api/v1/auth/code", {"phone": PHONE, "region": "RU"}, "region", False, {"validation_error"}),
    (
        "POST",
        "/api/v1/auth/token",
        {"phone": PHONE, "code": "0000"},
        "phone",
        False,
        {"invalid_phone", "validation_error"},
    ),
    (
        "POST",
        "/api/v1/auth/token",
        {"phone": PHONE, "code": "0000"},
        "code",
        False,
        {"invalid_code", "too_many_attempts", "rate_limited", "validation_error"},
    ),
    (
        "POST",
        "/api/v1/auth/token",
        {"phone": PHONE, "code": "0000", "region": "RU"},
        "region",
        False,
        {"validation_error"},
    ),
    (  # a forged device token is no token: the try counts like a stranger's
        "POST",
        "/api/v1/auth/token",
        {"phone": PHONE, "code": "0000"},
        "device_token",
        False,
        {"invalid_code", "too_many_attempts", "rate_limited", "validation_error"},
    ),
    (
        "PATCH",
        "/api/v1/profile",
        {"email": "anna@example.com"},
        "email",
        True,
        {"invalid_email", "validation_error"},
    ),
    (
        "POST",
        "/api/v1/profile/invite",
        {"invite_code": "AB12CD"},
        "invite_code",
        True,
        {"invite_code_not_found", "rate_limited", "validation_error"},  # guessing is throttled after 10
    ),
]
FIELD_IDS = [f"{method} {path.removeprefix('/api/v1')} {field}" for method, path, _, field, _, _ in FIELDS]
FIELD_ARGS = ("method", "path", "valid", "field", "needs_token", "codes")


@pytest.mark.parametrize(FIELD_ARGS, FIELDS, ids=FIELD_IDS)
async def test_hostile_strings_in_every_field(
    client: httpx.AsyncClient,
    session: Session,
    user: dict[str, str],
    method: str,
    path: str,
    valid: dict,
    field: str,
    needs_token: bool,
    codes: set[str],
) -> None:
    headers = user if needs_token else {}
    before = row_counts(session)
    for name, value in HOSTILE_STRINGS.items():
        response = await client.request(method, path, json={**valid, field: value}, headers=headers)
        assert_json_error(response, *codes)
        assert row_counts(session) == before, name


@pytest.mark.parametrize(FIELD_ARGS, FIELDS, ids=FIELD_IDS)
async def test_non_string_json_values_in_every_field(
    client: httpx.AsyncClient,
    session: Session,
    user: dict[str, str],
    method: str,
    path: str,
    valid: dict,
    field: str,
    needs_token: bool,
    codes: set[str],
) -> None:
    headers = {**JSON, **(user if needs_token else {})}
    before = row_counts(session)
    for name, raw in RAW_VALUES.items():
        others = {k: v for k, v in valid.items() if k != field}
        text = json.dumps(others)[:-1] + (", " if others else "") + f'"{field}": {raw}}}'
        if not others:
            text = "{" + text[1:]
        response = await client.request(method, path, content=text.encode(), headers=headers)
        assert_json_error(response, "validation_error")
        assert response.status_code == 422, (name, response.text[:200])
        assert row_counts(session) == before, name


async def test_hostile_names_are_stored_as_typed_or_refused(
    client: httpx.AsyncClient, session: Session, user: dict[str, str]
) -> None:
    """The name is free text: unicode, SQL and markup are kept verbatim (queries are parameterised and the
    API is JSON), control characters are dropped, over 100 characters (once whitespace runs are collapsed)
    is refused with `invalid_name`; never a 5xx."""
    before = row_counts(session)
    for name, value in HOSTILE_STRINGS.items():
        response = await client.patch("/api/v1/profile", json={"name": value}, headers=user)
        if len(" ".join(value.split())) > NAME_MAX_LENGTH:
            assert_json_error(response, "invalid_name")
            assert response.json()["detail"] == f"The name must be at most {NAME_MAX_LENGTH} characters."
            continue
        assert response.status_code == 200, (name, response.text[:200])
        stored = response.json()["name"]
        assert stored is None or not any(ord(ch) < 32 or ord(ch) == 127 for ch in stored), name
        assert (await client.get("/api/v1/profile", headers=user)).json()["name"] == stored
        if not any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            assert stored == value, name  # kept exactly: SQL, markup, RTL, emoji, zero-width, ...
    for label, raw in RAW_VALUES.items():
        text = f'{{"name": {raw}}}'
        response = await client.patch("/api/v1/profile", content=text, headers={**JSON, **user})
        if label == "lone-surrogate":  # a string, but one no database can store: dropped like NUL
            assert response.status_code == 200 and response.json()["name"] is None, response.text
            continue
        assert_json_error(response)
    named = await client.patch("/api/v1/profile", content='{"name": "A\\ud800B"}', headers={**JSON, **user})
    assert named.status_code == 200 and named.json()["name"] == "AB", named.text
    assert row_counts(session) == before


async def test_hostile_phones_that_still_hold_a_number_are_normalised(
    client: httpx.AsyncClient, session: Session
) -> None:
    """The phone parser reads a number out of what people type; whatever it keeps, only E.164 is stored."""
    for typed, stored in [
        ("＋７９１２３４５６７８９", "+79123456789"),  # full-width digits
        ("\u202e9001112233\u202c", "+79001112233"),  # RTL override around the digits
        ("tel:+79005556677", "+79005556677"),
        ("+79120000001' --", "+79120000001"),  # trailing punctuation is dropped by the parser
        ("+79120000002 OR 1=1", None),  # but not trailing digits or words
        ("' OR 1=1 +79120000003", None),
        ("+79123456789'; DROP TABLE users; --", None),  # over 32 characters
    ]:
        response = await client.post("/api/v1/auth/code", json={"phone": typed})
        if stored is None:
            assert_json_error(response, "invalid_phone", "validation_error")
            continue
        assert response.status_code == 200, (typed, response.text)
        assert response.json()["phone"] == stored
    session.rollback()
    stored_phones = sorted(session.exec(select(LoginCode.phone)).all())
    assert stored_phones == ["+79001112233", "+79005556677", "+79120000001", "+79123456789"]


@pytest.mark.parametrize(
    "query",
    [
        "limit=1e309",
        "limit=" + "9" * 400,
        "offset=" + "9" * 5000,
        "limit=NaN",
        "limit=-1",
        "offset=-1",
        "limit=0x10",
        "limit=1.5",
        "limit=%D9%A5",  # Arabic-Indic 5
        "limit=%00",
        "limit=",
        "limit=%27%20OR%201%3D1",
        "offset=1;DROP%20TABLE%20users",
        "limit=%F0%9F%98%80",
        "limit=%E2%80%AE5",
        "limit=" + "x" * 20_000,
        "limit=5&debug=1",
    ],
)
async def test_hostile_query_parameters(
    client: httpx.AsyncClient, session: Session, user: dict[str, str], query: str
) -> None:
    before = row_counts(session)
    response = await client.get(f"/api/v1/profile/referrals?{query}", headers=user)
    body = assert_json_error(response, "validation_error")
    assert response.status_code == 422 and body["errors"]
    assert row_counts(session) == before


HOSTILE_AUTHORIZATION = [
    b"",
    b"Bearer",
    b"Bearer ",
    b"Basic dXNlcjpwYXNz",
    b"Bearer rfa_",
    b"Bearer rfa_' OR '1'='1",
    b"Bearer rfa_'; DROP TABLE auth_tokens; --",
    b"Bearer rfa_" + b"A" * 100_000,
    b"Bearer \xf0\x9f\x98\x80",
    b"Bearer \xe2\x80\xaerfa_abc",
    b"Bearer rfa_\x00",
    b"Bearer \xff\xfe",
    b"Bearer rfa_abc, Bearer rfa_def",
]


async def test_hostile_authorization_headers(
    client: httpx.AsyncClient, session: Session, user: dict[str, str]
) -> None:
    token = user["Authorization"].removeprefix("Bearer ")
    variants = [*HOSTILE_AUTHORIZATION, f"Bearer {token}x".encode(), f"Bearer {token[:-1]}".encode()]
    endpoints = [
        ("GET", "/api/v1/profile", None),
        ("PATCH", "/api/v1/profile", {"name": "Eve"}),
        ("POST", "/api/v1/profile/invite", {"invite_code": "AB12CD"}),
        ("GET", "/api/v1/profile/referrals", None),
        ("POST", "/api/v1/auth/logout", None),
    ]
    before = row_counts(session)
    for value in variants:
        for method, path, body in endpoints:
            headers = httpx.Headers([(b"authorization", value)])
            response = await client.request(method, path, json=body, headers=headers)
            assert_json_error(response, "not_authenticated")
            assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
    assert row_counts(session) == before
    # The real token was neither revoked nor changed by any of it.
    profile = await client.get("/api/v1/profile", headers=user)
    assert profile.status_code == 200 and profile.json()["name"] is None


# --- bodies: size, content type, broken JSON --------------------------------------------------------------

BODY_ENDPOINTS = [
    ("POST", "/api/v1/auth/code", False),
    ("POST", "/api/v1/auth/token", False),
    ("PATCH", "/api/v1/profile", True),
    ("POST", "/api/v1/profile/invite", True),
]


@pytest.mark.parametrize(("method", "path", "needs_token"), BODY_ENDPOINTS)
async def test_bodies_over_the_limit_get_413_with_and_without_content_length(
    client: httpx.AsyncClient, session: Session, user: dict[str, str], method: str, path: str, needs_token: bool
) -> None:
    auth = user if needs_token else {}
    before = row_counts(session)
    padding = "x" * LIMIT
    declared = await client.request(method, path, json={"phone": PHONE, "name": padding}, headers=auth)
    assert declared.status_code == 413
    assert_json_error(declared, "payload_too_large")

    pulled = 0

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while streaming
        nonlocal pulled
        yield b'{"phone": "' + PHONE.encode() + b'", "name": "'
        for _ in range(10_000):  # 10 MB offered; reading must stop right after 64 KiB
            pulled += 1
            yield b"x" * 1024

    streamed = await client.request(method, path, content=chunks(), headers={**JSON, **auth})
    assert "content-length" not in streamed.request.headers
    assert streamed.status_code == 413, streamed.text[:200]
    assert_json_error(streamed, "payload_too_large")
    assert pulled <= LIMIT // 1024 + 2, pulled

    lying = await client.request(  # a Content-Length that understates the body does not get it through
        method,
        path,
        content=b'{"phone": "' + b"9" * (2 * LIMIT) + b'"}',
        headers={**JSON, **auth, "Content-Length": "20"},
    )
    assert lying.status_code == 413
    assert_json_error(lying, "payload_too_large")
    assert row_counts(session) == before


@pytest.mark.parametrize(("method", "path"), [("GET", "/api/v1/auth/sessions"), ("GET", "/api/v1/profile")])
async def test_endpoints_without_a_body(
    client: httpx.AsyncClient, session: Session, user: dict[str, str], method: str, path: str
) -> None:
    # A declared oversized body is refused before anything happens (the token is not revoked) ...
    declared = await client.request(method, path, content=b"x" * (LIMIT + 1), headers=user)
    assert_json_error(declared, "payload_too_large")
    assert (await client.get("/api/v1/profile", headers=user)).status_code == 200
    # ... and a streamed one is never read at all: the request is answered as if it had none.
    pulled = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(10_000):
            pulled += 1
            yield b"x" * 1024

    streamed = await client.request(method, path, content=chunks(), headers=user)
    assert streamed.status_code in (200, 204) and pulled <= 1, (streamed.status_code, pulled)


async def test_an_oversized_streamed_logout_body_is_refused_and_revokes_nothing(
    client: httpx.AsyncClient, user: dict[str, str]
) -> None:
    # Logout takes an optional body (its scope), so a streamed one is read, up to the limit.
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10_000):
            yield b"x" * 1024

    refused = await client.post("/api/v1/auth/logout", content=chunks(), headers=user)
    assert_json_error(refused, "payload_too_large")
    assert (await client.get("/api/v1/profile", headers=user)).status_code == 200


async def test_body_limit_boundary(client: httpx.AsyncClient, session: Session) -> None:
    # Exactly 64 KiB is read (and refused by validation as junk); one byte more is 413.
    for size, status in [(LIMIT, 422), (LIMIT + 1, 413)]:
        body = b'{"phone": "' + b"9" * (size - 13) + b'"}'
        assert len(body) == size
        response = await client.post("/api/v1/auth/code", content=body, headers=JSON)
        assert response.status_code == status, (size, response.text[:200])
        assert_json_error(response, "validation_error" if status == 422 else "payload_too_large")
    assert row_counts(session) == {"users": 0, "login_codes": 0, "auth_tokens": 0}


@pytest.mark.parametrize("content_length", ["abc", "-1", "1e3", " 10", "99999999999999999999999999"])
async def test_malformed_content_length_is_refused(client: httpx.AsyncClient, content_length: str) -> None:
    response = await client.post(
        "/api/v1/auth/code",
        content=b'{"phone": "+79123456789"}',
        headers={**JSON, "Content-Length": content_length},
    )
    assert_json_error(response, "payload_too_large")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (None, b'{"phone": "+79123456789"}'),
        ("text/plain", b'{"phone": "+79123456789"}'),
        ("application/x-www-form-urlencoded", b"phone=%2B79123456789"),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="phone"\r\n\r\n+79\r\n--x--',
        ),
        ("application/xml", b"<phone>+79123456789</phone>"),
        ("application/json", b"<phone>+79123456789</phone>"),
        ("application/json", b""),
        ("application/json", b"null"),
        ("application/json", b'"+79123456789"'),
        ("application/json", b"[]"),
        ("application/json", b'{"phone": "+79123456789"'),
        ("application/json", b'{"phone": "+79123456789"} trailing'),
        ("application/json", b"{'phone': '+79123456789'}"),
        ("application/json", b'{"phone": "+79123456789",}'),
        ("application/json", b'{"phone": "\\x41"}'),
        ("application/json", b'\xef\xbb\xbf{"phone": "+79123456789"'),
        ("application/json", b'{"phone": "+7912\xff\xfe3456789"}'),
        ("application/json", b"\x00" * 100),
        ("application/json", b'{"phone": "+79123456789", "phone": 1}'),
        ("application/json; charset=utf-16", '{"phone": 7}'.encode("utf-16")),
    ],
)
async def test_wrong_content_types_and_broken_json(
    client: httpx.AsyncClient, session: Session, content_type: str | None, body: bytes
) -> None:
    for path in ("/api/v1/auth/code", "/api/v1/auth/token"):
        headers = {"Content-Type": content_type} if content_type else {}
        response = await client.post(path, content=body, headers=headers)
        assert response.status_code == 422, (path, response.text[:200])
        assert_json_error(response, "validation_error")
    assert row_counts(session) == {"users": 0, "login_codes": 0, "auth_tokens": 0}


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


HOSTILE_FORWARDED_FOR = [
    b"fe80::1%" + b"x" * 100,  # an IPv6 zone is free text: it made the stored IP too long for PostgreSQL
    b"fe80::1%\x00",  # and could carry a NUL
    b"fe80::1%eth0",
    b"::ffff:198.51.100.7",
    b"' OR '1'='1",
    b"999.1.1.1",
    b"unknown",
    b", , ,",
    b"",
    b"\xe2\x80\xae198.51.100.8",
    b"198.51.100.9 ; DROP TABLE login_codes; --",
    b", ".join(b"198.51.100.%d" % (n % 250) for n in range(5000)),
    b"x" * 60_000,
]


async def test_hostile_forwarded_for_from_a_trusted_proxy(settings: Settings, session: Session) -> None:
    """Behind a trusted proxy X-Forwarded-For is believed, so whatever it holds must come out as a plain
    IP address (an IPv6 client as its /64) that fits the 45-character column; a client hop that is not an
    address at all is nobody the limits could count, so the request is refused (`unknown_client`) rather
    than put in the proxy's own bucket. An empty header means the proxy itself is the client."""
    from referral_app.api.main import create_api

    transport = httpx.ASGITransport(app=create_api(), client=("127.0.0.1", 40000))
    statuses = []
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        for n, value in enumerate(HOSTILE_FORWARDED_FOR):
            headers = httpx.Headers([(b"x-forwarded-for", value)])
            response = await c.post("/api/v1/auth/code", json={"phone": f"+7912111{n:04d}"}, headers=headers)
            statuses.append(response.status_code)
            if response.status_code != 200:
                assert (response.status_code, response.json()["code"]) == (403, "unknown_client"), value[:60]
    assert statuses == [200] * 4 + [403] * 3 + [200] * 2 + [403] * 2 + [200, 403]
    session.rollback()
    stored = session.exec(select(LoginCode.requester_ip).order_by(LoginCode.id)).all()
    proxy = "127.0.0.1"
    assert stored == ["fe80::/64"] * 3 + ["198.51.100.7", proxy, proxy, "198.51.100.249"]
    for ip in stored:
        assert len(ip) <= 45 and ip in (str(ipaddress.ip_network(ip)), str(ipaddress.ip_address(ip.split("/")[0])))

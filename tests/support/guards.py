"""What the test suite may wipe: a PostgreSQL database whose name says it is a test one, and a Redis database
index named in TEST_REDIS_URL. Checked once, when pytest starts, before any fixture touches a service."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa


class NotATestService(Exception):
    """TEST_DATABASE_URL or TEST_REDIS_URL points at something the suite must not wipe."""


def check_test_database_url(url: str) -> None:
    """The suite drops schema `public` of this database: its name must contain `test`."""
    name = sa.engine.make_url(url).database or ""
    if "test" not in name.lower():
        raise NotATestService(
            f"TEST_DATABASE_URL names database {name!r}: the tests drop its schema, so they only run on a database"
            " whose name contains 'test' (e.g. .../test or .../referral_test)"
        )


def check_test_redis_url(url: str) -> None:
    """Redis tests flush the database of this URL: its index must be written in it (`/13` or `?db=13`), never
    left to the default."""
    parts = urlsplit(url)
    path = parts.path.strip("/")
    indexes = [*([path] if path else []), *parse_qs(parts.query).get("db", [])]
    if not indexes or not all(index.isdigit() for index in indexes):
        raise NotATestService(
            f"TEST_REDIS_URL {url!r} names no database index: the tests flush it, so name the one they may"
            " (e.g. redis://127.0.0.1:6379/13)"
        )


def check_test_services(database_url: str | None, redis_url: str | None) -> None:
    if database_url:
        check_test_database_url(database_url)
    if redis_url:
        check_test_redis_url(redis_url)

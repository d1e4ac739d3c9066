"""Django settings of the peer: an API-only project, production-like (DEBUG off, persistent connections).
DATABASE_URL is the app's own (sqlite:///path or postgresql+psycopg://user:pw@host:port/name): the same database."""

from __future__ import annotations

import os
import secrets
from urllib.parse import unquote, urlsplit


def _database(url: str) -> dict[str, object]:
    # CONN_MAX_AGE None: one connection per worker, kept, as a tuned deployment does (the default, 0, opens
    # one per request).
    if url.startswith("sqlite:///"):
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": url.removeprefix("sqlite:///"),
            "CONN_MAX_AGE": None,
        }
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgresql"):
        raise ValueError(f"DATABASE_URL: SQLite or PostgreSQL only, not {parts.scheme!r}")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": None,
    }


DATABASES = {"default": _database(os.environ["DATABASE_URL"])}
SECRET_KEY = secrets.token_urlsafe(50)  # nothing is signed: no sessions, no CSRF
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["rest_framework", "bench.peer_django"]
MIDDLEWARE = ["django.middleware.security.SecurityMiddleware", "django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "bench.peer_django.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
# Our tables hold naive UTC; Django reads them as UTC and DRF writes them with "Z", as our API does.
USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["bench.peer_django.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,  # no django.contrib.auth: our users are not Django's
}

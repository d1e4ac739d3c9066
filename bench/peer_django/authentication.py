"""The token check, in a module of its own: DRF imports DEFAULT_AUTHENTICATION_CLASSES while its views module
loads, so this must not import rest_framework.views (or generics)."""

from __future__ import annotations

import hashlib

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from bench.peer_django.models import AuthToken, User


class BearerTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token>`: the token's SHA-256 names a live token (not revoked, not expired) of a
    live user (not deleted, not blocked). Nothing is written: no last-use refresh."""

    def authenticate(self, request: Request) -> tuple[User, AuthToken] | None:
        scheme, _, token = get_authorization_header(request).decode("latin-1").partition(" ")
        if scheme.lower() != "bearer":
            return None  # IsAuthenticated answers 401
        token_hash = hashlib.sha256(token.strip().encode()).hexdigest()
        try:
            row = AuthToken.objects.select_related("user").get(
                token_hash=token_hash,
                revoked_at__isnull=True,
                expires_at__gt=timezone.now(),
                user__deleted_at__isnull=True,
                user__blocked_at__isnull=True,
            )
        except AuthToken.DoesNotExist:
            raise exceptions.AuthenticationFailed("Invalid or expired token.") from None
        return row.user, row

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"  # a 401 (not a 403) with WWW-Authenticate

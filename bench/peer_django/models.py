"""Our tables as Django sees them (`managed = False`: alembic owns the schema); only the columns the profile
and the token check read."""

from __future__ import annotations

from django.db import models


class User(models.Model):
    phone = models.CharField(max_length=16, unique=True)
    invite_code = models.CharField(max_length=16, unique=True)
    referrer = models.ForeignKey(
        "self", null=True, on_delete=models.DO_NOTHING, related_name="referrals", db_column="referrer_id"
    )
    invite_activated_at = models.DateTimeField(null=True)
    name = models.CharField(max_length=100, null=True)
    email = models.CharField(max_length=254, null=True)
    created_at = models.DateTimeField()
    deleted_at = models.DateTimeField(null=True)
    blocked_at = models.DateTimeField(null=True)

    is_authenticated = True  # what DRF's IsAuthenticated asks of request.user

    class Meta:
        managed = False
        db_table = "users"


class AuthToken(models.Model):
    """A bearer token; only its SHA-256 is stored."""

    user = models.ForeignKey(User, on_delete=models.DO_NOTHING, db_column="user_id")
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True)

    class Meta:
        managed = False
        db_table = "auth_tokens"

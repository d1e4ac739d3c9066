"""The profile's JSON: the same fields as our GET /api/v1/profile (referral_app/api/schemas.py Profile). Three
queries per request with the token check, like ours: the token with its user, the referral count, the newest
referrals (a fourth, the inviter, only for a user who activated a code)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from bench.peer_django.models import User

PROFILE_REFERRALS = 100  # the newest referrals a profile carries (referral_app/limits.py)


class ReferralSerializer(serializers.ModelSerializer):
    joined_at = serializers.DateTimeField(source="invite_activated_at")

    class Meta:
        model = User
        fields = ("phone", "joined_at")


class ProfileSerializer(serializers.ModelSerializer):
    activated_invite_code = serializers.SerializerMethodField()
    invited_by = serializers.SerializerMethodField()
    inviter_deleted = serializers.SerializerMethodField()
    referrals = serializers.SerializerMethodField()
    referrals_count = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = (
            "id",
            "phone",
            "invite_code",
            "activated_invite_code",
            "invited_by",
            "inviter_deleted",
            "name",
            "email",
            "referrals",
            "referrals_count",
            "created_at",
        )

    def get_activated_invite_code(self, user: User) -> str | None:
        return user.referrer.invite_code if user.referrer else None

    def get_invited_by(self, user: User) -> str | None:
        inviter = user.referrer
        return inviter.phone if inviter and inviter.deleted_at is None else None

    def get_inviter_deleted(self, user: User) -> bool:
        return bool(user.referrer and user.referrer.deleted_at is not None)

    def get_referrals(self, user: User) -> Any:
        newest = user.referrals.order_by("-invite_activated_at", "-id")[:PROFILE_REFERRALS]
        return ReferralSerializer(newest, many=True).data

    def get_referrals_count(self, user: User) -> int:
        return user.referrals.count()

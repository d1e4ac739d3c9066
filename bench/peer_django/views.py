"""GET /api/v1/profile: a RetrieveAPIView of the authenticated user, as DRF's tutorial writes one."""

from __future__ import annotations

from rest_framework import generics

from bench.peer_django.models import User
from bench.peer_django.serializers import ProfileSerializer


class ProfileView(generics.RetrieveAPIView):
    serializer_class = ProfileSerializer

    def get_object(self) -> User:
        return self.request.user

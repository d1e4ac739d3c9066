from django.urls import path

from bench.peer_django.views import ProfileView

urlpatterns = [path("api/v1/profile", ProfileView.as_view())]

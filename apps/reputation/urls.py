from django.urls import path

from apps.reputation import views

urlpatterns = [
    path("id/<slug:handle>/", views.identity_detail, name="identity-detail"),
    path("leaderboards/", views.leaderboards, name="leaderboards"),
    path("track-record/", views.platform_record, name="platform-record"),
]

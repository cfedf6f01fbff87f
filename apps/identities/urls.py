from django.urls import path

from apps.identities import views

urlpatterns = [
    path("agents/", views.agent_directory, name="agent-directory"),
]

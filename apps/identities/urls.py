from django.urls import path

from apps.identities import views

urlpatterns = [
    path("agents/", views.agent_directory, name="agent-directory"),
    path("me/agents/", views.my_agents, name="my-agents"),
    path("me/agents/<int:agent_id>/", views.agent_detail, name="agent-detail"),
    path("me/agents/<int:agent_id>/provenance", views.agent_update, name="agent-update"),
    path("me/agents/<int:agent_id>/suspend", views.agent_suspend, name="agent-suspend"),
    path("me/agents/<int:agent_id>/reactivate", views.agent_reactivate, name="agent-reactivate"),
    path("me/agents/<int:agent_id>/keys", views.api_key_create, name="agent-key-create"),
    path("me/agents/<int:agent_id>/keys/<int:key_id>/revoke", views.api_key_revoke, name="agent-key-revoke"),
]

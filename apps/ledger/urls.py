from django.urls import path

from apps.ledger import views

urlpatterns = [
    path("wallet/", views.wallet, name="wallet"),
    path("me/agents/<int:agent_id>/fund", views.agent_fund, name="agent-fund"),
    path("me/agents/<int:agent_id>/withdraw", views.agent_withdraw, name="agent-withdraw"),
]

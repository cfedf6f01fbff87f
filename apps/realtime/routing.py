from django.urls import path

from apps.realtime.consumers import ClaimConsumer

websocket_urlpatterns = [
    path("ws/claims/<int:claim_id>/", ClaimConsumer.as_asgi()),
]

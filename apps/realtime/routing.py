from django.urls import path

from apps.realtime.consumers import ClaimConsumer, ClaimsConsumer, MeConsumer

websocket_urlpatterns = [
    path("ws/claims/", ClaimsConsumer.as_asgi()),
    path("ws/claims/<int:claim_id>/", ClaimConsumer.as_asgi()),
    path("ws/me/", MeConsumer.as_asgi()),
]

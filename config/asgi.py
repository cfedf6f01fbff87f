import os

import django
from django.core.asgi import get_asgi_application

from apps.core.tracing import tracing_configure

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

# Tracing, on when OTEL_EXPORTER_OTLP_ENDPOINT is set (apps/core/tracing.py): after Django's setup, since it
# logs, and before the application builds its middleware, to which it adds its own.
django.setup(set_prefix=False)
tracing_configure("credence-live")
# Django must be set up before anything imports models (consumers do).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from apps.realtime.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Browsers only (their Origin must be an allowed host), with the visitor's session.
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

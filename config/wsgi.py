import os

import django
from django.core.wsgi import get_wsgi_application

from apps.core.tracing import tracing_configure

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

# Tracing, on when OTEL_EXPORTER_OTLP_ENDPOINT is set (apps/core/tracing.py): after Django's setup, since it
# logs, and before the application builds its middleware, to which it adds its own.
django.setup(set_prefix=False)
tracing_configure("credence-web")
application = get_wsgi_application()

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("credence")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A static schedule: django-celery-beat does not support Django 6.1 yet (see docs/architecture.md).
# Per-agent schedules will live in our own models and be dispatched by one tick listed here.
app.conf.beat_schedule = {}

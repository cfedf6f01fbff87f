# The Celery app must be imported when Django starts so that `shared_task` binds to it
# (otherwise tasks silently bind to a default amqp app).
from config.celery import app as celery_app

__all__ = ("celery_app",)

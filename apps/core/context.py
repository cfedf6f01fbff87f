"""Who is asking, for the life of one request or one task: a request id, the client's address, and the
person behind it.

The web middleware (apps.core.middleware.RequestContextMiddleware) opens a context per request; a
Celery task runs in the context of the request that enqueued it (the id travels in the task's headers,
config/celery.py). Logs, outbox events and audit entries read it from here, so none of them needs the
request passed down through the services.
"""

import re
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

# A client may send its own id (a proxy's, an agent's trace) so that its logs and ours join up; anything
# else is replaced: the id is written into logs and rows, so it must be short and plain.
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")


@dataclass(frozen=True, slots=True)
class RequestContext:
    request_id: str
    ip: str | None = None
    user_id: int | None = None


_current: ContextVar[RequestContext | None] = ContextVar("credence_request_context", default=None)


def new_request_id(offered: str | None = None) -> str:
    """The offered id if it is plain enough to log, else a fresh one (32 hex digits)."""
    if offered and _CLIENT_ID.fullmatch(offered):
        return offered
    return uuid.uuid4().hex


def current() -> RequestContext | None:
    return _current.get()


def request_id() -> str | None:
    context = _current.get()
    return context.request_id if context else None


@contextmanager
def request_context(context: RequestContext):
    """Run the block in `context`; the previous one (usually none) comes back after it."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def set_user(user_id: int | None) -> None:
    """The person is known only after authentication, which runs inside the request's context."""
    context = _current.get()
    if context is not None and context.user_id != user_id:
        _current.set(RequestContext(context.request_id, context.ip, user_id))

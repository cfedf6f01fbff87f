"""Two promises for every request, whichever view answers it.

- `RefuseNulMiddleware`: no NUL (U+0000) reaches a view from the path, query, headers, cookies or a form.
  PostgreSQL text cannot hold one, so it was a 500; refused here, before the session is read, it is
  refused for every page, form and API operation. JSON bodies are left to `apps.core.api.refuse_nul`,
  which can say where in the body the NUL was.
- `ApiErrorShapeMiddleware`: every error answer under /api/ is `{"error": {"code", "message", "detail"}}`,
  including those no API code wrote (an unknown path, a wrong method, a 500).

And what an operator sees of it: `RequestContextMiddleware` gives it a request id; `AccessLogMiddleware` writes
its access line and counts it in /metrics; `RequestUserMiddleware` names the signed-in person in its context.
"""

import time
from collections.abc import Callable
from http import HTTPStatus

import structlog
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve

from apps.core import metrics
from apps.core.api import ERROR_MESSAGES, NUL, error_body, is_api_path, nul_refusal
from apps.core.context import RequestContext, current, new_request_id, request_context, set_user
from apps.core.throttling import client_address

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _header_name(meta_key: str) -> str:
    name = meta_key.removeprefix("HTTP_")
    return "-".join(part.capitalize() for part in name.split("_"))


def nul_location(request: HttpRequest, *, forms: bool) -> list | None:
    """Where the request carries a NUL, as a validation error's `loc` (["query", "q"]), or None."""
    if NUL in request.path_info:
        try:
            kwargs = resolve(request.path_info).kwargs
        except Resolver404:
            return ["path"]
        return ["path", *[name for name, value in kwargs.items() if NUL in str(value)][:1]]
    for key, value in request.META.items():
        if (key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH")) and NUL in str(value):
            return ["header", _header_name(key)]
    # A cookie may spell a NUL as an escape ("\000") in the header: look at the parsed values too.
    for name, value in request.COOKIES.items():
        if NUL in name or NUL in value:
            return ["cookie", name]
    for key, values in request.GET.lists():
        if NUL in key or any(NUL in value for value in values):
            return ["query", key]
    # A form's body is read here (Django reads it once and keeps it); a JSON body is left to the API.
    if forms and request.method == "POST" and request.content_type in _FORM_TYPES:
        for key, values in request.POST.lists():
            if NUL in key or any(NUL in value for value in values):
                return ["form", key]
    return None


class RefuseNulMiddleware:
    """Answers a request with a NUL anywhere but a JSON body: under /api/ the API's 422
    `validation_failed` with the NUL's `loc`; in the browser a 400 page. Nothing runs, nothing is written."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        api = is_api_path(request.path_info)
        loc = nul_location(request, forms=not api)
        if loc is None:
            return self.get_response(request)
        if api:
            refusal = nul_refusal(loc)
            return JsonResponse(refusal.as_body(), status=refusal.status)
        # Rendered without the request: this runs before the session and the user are loaded (a NUL in
        # the session cookie must not reach the session table either), so the page cannot use them.
        html = render_to_string(
            "400.html", {"message": "Part of the address or the form contains a NUL character, which no text may."}
        )
        return HttpResponse(html, status=400)


class ApiErrorShapeMiddleware:
    """Rewrites a non-JSON error answer under /api/ (Django's 404 and 500 pages, a bare 405, Django's
    400) into the error shape, keeping its status and headers (Allow, Retry-After). It sits outside every
    layer that answers, so it sees what every other layer answered."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not is_api_path(request.path_info)
            or response.streaming
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        status = response.status_code
        code, message = ERROR_MESSAGES.get(status, ("error", HTTPStatus(status).phrase))
        detail = None
        if status == 405:
            allowed = sorted(method.strip() for method in response.get("Allow", "").split(",") if method.strip())
            message = f"{request.method} is not allowed here; this path takes {', '.join(allowed)}."
            detail = {"allowed": allowed}
        response.content = JsonResponse(error_body(code, message, detail)).content
        response["Content-Type"] = "application/json; charset=utf-8"
        if response.has_header("Content-Length"):
            response["Content-Length"] = str(len(response.content))
        return response


class RequestContextMiddleware:
    """Opens the request's context (apps.core.context): a request id (the client's X-Request-ID when it
    is plain, else a new one), the client's address. The answer carries the id back in X-Request-ID, so
    a person reporting a problem can quote it and an operator can find every log line, task and audit
    entry of that request. It sits outermost: every other layer, and every error, runs inside it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        context = RequestContext(
            request_id=new_request_id(request.headers.get("X-Request-ID")), ip=client_address(request)
        )
        request.request_id = context.request_id
        with request_context(context):
            response = self.get_response(request)
        response["X-Request-ID"] = context.request_id
        return response


access_log = structlog.get_logger("credence.access")

# A method outside these is counted as "other": a client must not be able to add series to /metrics.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Answered probes and scrapes are logged at DEBUG: a load balancer asking every few seconds would drown the rest.
_PROBES = frozenset({"/healthz", "/metrics"})


def route_of(request: HttpRequest) -> str:
    """The URL pattern that answered ("/claims/<int:claim_id>/"), never the path itself: one series per route.
    WhiteNoise answers static files before any URL is resolved; a path that matched nothing is "unmatched"."""
    match = request.resolver_match
    if match is not None:
        return "/" + match.route
    if request.path_info.startswith(settings.STATIC_URL):
        return "static"
    return "unmatched"


def _caller(request: HttpRequest) -> dict:
    """Who the request acted for, once the view has run: the signed-in person (who may have signed in during
    it), or the owner and identity of the API key that django-ninja's auth left in `request.auth`."""
    context = current()
    user_id = context.user_id if context is not None else None
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        user_id = user.pk
    identity = getattr(getattr(request, "auth", None), "identity", None)
    if identity is None:
        return {"user_id": user_id} if user_id is not None else {}
    return {"user_id": user_id or identity.owner_id or identity.user_id, "identity_id": identity.pk}


class AccessLogMiddleware:
    """One `http_request` line per request on the `credence.access` logger (method, path, route, status,
    duration_ms, and the request id and person from the context), and the request metrics (apps/core/metrics.py).
    Just inside RequestContextMiddleware: it times every other layer, and its line carries the request id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        seconds = time.perf_counter() - started
        route, status = route_of(request), response.status_code
        method = request.method if request.method in _METHODS else "other"
        metrics.request_observe(method=method, route=route, status=status, seconds=seconds)
        write = access_log.debug if route in _PROBES and status < 400 else access_log.info
        write(
            "http_request",
            method=request.method,
            path=request.path,
            route=route,
            status=status,
            duration_ms=round(seconds * 1000, 1),
            **_caller(request),
        )
        return response


class RequestUserMiddleware:
    """Just after AuthenticationMiddleware: the signed-in person's id into the request's context, so every
    line the view logs names them. (An API key's caller is known only inside the view: the access line
    names it.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            set_user(request.user.pk)
        return self.get_response(request)

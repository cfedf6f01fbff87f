"""Two promises for every request, whichever view answers it.

- `RefuseNulMiddleware`: no NUL (U+0000) reaches a view from the path, query, headers, cookies or a form.
  PostgreSQL text cannot hold one, so it was a 500; refused here, before the session is read, it is
  refused for every page, form and API operation. JSON bodies are left to `apps.core.api.refuse_nul`,
  which can say where in the body the NUL was.
- `ApiErrorShapeMiddleware`: every error answer under /api/ is `{"error": {"code", "message", "detail"}}`,
  including those no API code wrote (an unknown path, a wrong method, a 500).
"""

from collections.abc import Callable
from http import HTTPStatus

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve

from apps.core.api import ERROR_MESSAGES, NUL, error_body, is_api_path, nul_refusal

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
    400) into the error shape, keeping its status and headers (Allow, Retry-After). It sits outermost, so
    it sees what every other layer answered."""

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

from django.http import HttpRequest, HttpResponseRedirect, JsonResponse
from django.templatetags.static import static
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_GET

from apps.core.health import health_report


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    ok, checks = health_report()
    return JsonResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)


@cache_control(public=True, max_age=86400)
@require_GET
def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """Browsers, feed readers and bookmarks ask for /favicon.ico whatever a page links: point them at the
    static icon. Temporarily (a day's cache), since in production its URL carries its content's hash."""
    return HttpResponseRedirect(static("img/favicon.ico"))

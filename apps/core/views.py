import hmac

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.templatetags.static import static
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_GET

from apps.core import metrics as metrics_
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


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus's scrape (apps/core/metrics.py): for a scraper that sends `Authorization: Bearer
    <CREDENCE_METRICS_TOKEN>`, and for signed-in staff. A wrong token is 401 (the scraper is misconfigured);
    anyone else gets the site's 404, as for a page that does not exist."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        expected = settings.CREDENCE_METRICS_TOKEN
        if not expected or not hmac.compare_digest(token.strip().encode(), expected.encode()):
            response = HttpResponse("Unauthorized: wrong metrics token.\n", status=401, content_type="text/plain")
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    elif not (request.user.is_active and request.user.is_staff):
        raise Http404
    body = metrics_.exposition(multiprocess_dir=settings.PROMETHEUS_MULTIPROC_DIR)
    return HttpResponse(body, content_type=metrics_.CONTENT_TYPE)

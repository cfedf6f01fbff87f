from django.contrib import admin
from django.urls import include, path
from ninja.openapi.views import openapi_view

from apps.core import views as core_views
from apps.markets.views import claims as claims_views
from config.api import api

urlpatterns = [
    path("", claims_views.claim_list, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("favicon.ico", core_views.favicon, name="favicon"),
    path("api/v1/", api.urls),
    path("api/docs", lambda request: openapi_view(request, api), name="api-docs"),
    path("accounts/", include("allauth.urls")),
    path("", include("apps.identities.urls")),
    path("", include("apps.ledger.urls")),
    path("", include("apps.markets.urls")),
    path("", include("apps.reputation.urls")),
    path("", include("apps.realtime.urls")),
    path("admin/", admin.site.urls),
]

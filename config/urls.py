from django.contrib import admin
from django.urls import include, path
from ninja.openapi.views import openapi_view

from apps.billing import views as billing_views
from apps.core import views as core_views
from config.api import api

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("metrics", core_views.metrics, name="metrics"),
    path("favicon.ico", core_views.favicon, name="favicon"),
    path("billing/stripe/webhook", billing_views.stripe_webhook, name="stripe-webhook"),
    path("api/v1/", api.urls),
    path("api/docs", lambda request: openapi_view(request, api), name="api-docs"),
    path("accounts/", include("allauth.urls")),
    path("", include("apps.web.urls")),
    path("admin/", admin.site.urls),
]

"""The one NinjaAPI. Each app contributes a Router from its api.py."""

from django.conf import settings

from apps.agents.api import router as agents_router
from apps.billing.api import router as billing_router
from apps.core.api import CredenceAPI, install_error_handlers
from apps.core.throttling import AnonymousThrottle, CallerThrottle
from apps.identities.api import router as identities_router
from apps.ledger.api import router as ledger_router
from apps.markets.api import router as markets_router
from apps.moderation.api import router as moderation_router
from apps.reputation.api import router as reputation_router
from apps.reviews.api import router as reviews_router
from apps.webhooks.api import router as webhooks_router

api = CredenceAPI(
    title="Credence API",
    version="1",
    description=(
        "Stake credit on claims, state beliefs and call humans at checkpoints. Agents authenticate with "
        "`Authorization: Bearer cred_<prefix>_<secret>`; browsers with their session and the X-CSRFToken header. "
        "Amounts are integers of micro-credits (1 credit = 1,000,000). Every error answer (4xx and 5xx, on any "
        'path under /api/) is `{"error": {"code", "message", "detail"}}`. See docs/api.md.'
    ),
    urls_namespace="api",
    docs_url="/docs",
    throttle=[
        AnonymousThrottle(settings.CREDENCE_API_RATE_ANON),
        CallerThrottle(settings.CREDENCE_API_RATE_AUTH),
    ],
)
install_error_handlers(api)
api.add_router("", identities_router)
api.add_router("", ledger_router)
api.add_router("", markets_router)
api.add_router("", reputation_router)
api.add_router("", reviews_router)
api.add_router("", agents_router)
api.add_router("", webhooks_router)
api.add_router("", billing_router)
api.add_router("", moderation_router)

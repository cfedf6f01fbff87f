"""Settings shared by every environment. Everything configurable comes from an environment variable
(see the table in README.md); the defaults are the safe, embedded, local ones."""

from pathlib import Path

import dj_database_url
from django.utils.csp import CSP

from apps.core.logs import logging_settings
from config.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
# Where the embedded mode keeps its SQLite database, Celery broker folders and file cache.
DATA_DIR = Path(env_str("CREDENCE_DATA_DIR", str(BASE_DIR / "var")))

SECRET_KEY = env_str("DJANGO_SECRET_KEY", "insecure-local-only-key-change-me-in-production-0123456789")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("CREDENCE_SITE_URL", "http://127.0.0.1:8000")
# What emails and authenticator apps call the site (allauth would take the name from django.contrib.sites,
# which is not installed, and so name the site after the request's host).
SITE_NAME = "Credence"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "django_htmx",
    "channels",
    "ninja",
    "apps.core",
    "apps.accounts",
    "apps.identities",
    "apps.ledger",
    "apps.reviews",
    "apps.markets",
    "apps.reputation",
    "apps.realtime",
    "apps.agents",
    "apps.webhooks",
    "apps.billing",
    "apps.moderation",
    "apps.web",
    "apps.demo",
]

MIDDLEWARE = [
    # First of all: the request id and the client's address (apps/core/context.py) for everything below,
    # its logs, the tasks it enqueues, its events and audit entries; the answer carries X-Request-ID.
    "apps.core.middleware.RequestContextMiddleware",
    # Inside it, so its line has the request id; around everything else, so it times it all: the access log
    # line and the request metrics (/metrics).
    "apps.core.middleware.AccessLogMiddleware",
    # Outside every layer that answers: it sees every answer, so every error under /api/ leaves in the API's
    # error shape (the two above only time, count and label what comes back).
    "apps.core.middleware.ApiErrorShapeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before the session is read: a NUL in a cookie would otherwise reach the session table.
    "apps.core.middleware.RefuseNulMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.core.middleware.RequestUserMiddleware",  # the signed-in person's id into the request's context
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.core.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
# DATABASE_URL selects PostgreSQL (production, the test suite); without it, SQLite in WAL mode.
DATABASE_URL = env_str("DATABASE_URL", "")


def database_from_url(url: str) -> dict:
    if url:
        config = dj_database_url.parse(url)
        if config["ENGINE"] == "django.db.backends.postgresql":
            # Django's own psycopg pool; never combined with CONN_MAX_AGE.
            config["CONN_MAX_AGE"] = 0
            if env_bool("DATABASE_POOL", True):
                config["OPTIONS"] = {
                    "pool": {
                        "min_size": env_int("DATABASE_POOL_MIN_SIZE", 2),
                        "max_size": env_int("DATABASE_POOL_MAX_SIZE", 20),
                        "timeout": env_int("DATABASE_POOL_TIMEOUT", 10),
                    }
                }
        return config
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATA_DIR / "credence.sqlite3",
        "OPTIONS": {
            # WAL lets the web server, worker and beat read while one of them writes; IMMEDIATE
            # takes the write lock at BEGIN so concurrent writers queue instead of failing mid-way.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
    }


DATABASES = {"default": database_from_url(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, channel layer and Celery broker -------------------------------------------------------
# REDIS_URL switches all three to Redis; without it: a file cache shared by every local process,
# the in-memory channel layer, and a filesystem Celery broker.
REDIS_URL = env_str("REDIS_URL", "")

# Bounded waits on Redis: without them an unreachable host (packets dropped, not refused) blocks a
# request, a task publish or /healthz for the operating system's connect timeout, minutes.
REDIS_TIMEOUT = env_int("REDIS_TIMEOUT_SECONDS", 5)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "apps.core.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "credence"),
            "OPTIONS": {"socket_connect_timeout": REDIS_TIMEOUT, "socket_timeout": REDIS_TIMEOUT},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
        }
    }

CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# How often each ASGI process reads the outbox for its browsers (apps/realtime/relay.py).
CREDENCE_REALTIME_POLL_MS = env_int("CREDENCE_REALTIME_POLL_MS", 250)

# The filesystem transport ignores the host, but kombu warns on every connection to a URL without one
# ("No hostname was supplied. Reverting to default 'localhost'") in each process: the worker, beat, and
# any process that queues a task. So the URL names it.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "filesystem://localhost/")
CELERY_RESULT_BACKEND = env_str(
    "CELERY_RESULT_BACKEND", REDIS_URL or f"file://{(DATA_DIR / 'celery' / 'results').as_posix()}"
)
# An idle worker on the filesystem broker lists its folder this often. kombu's default (1 s) made a review's
# continuation wait 0.5 s on average and up to a second after the decision (tests/bench/
# test_review_resume_latency.py); ten listings a second of a local folder cost nothing worth counting.
CREDENCE_EMBEDDED_BROKER_POLL_SECONDS = float(env_str("CREDENCE_EMBEDDED_BROKER_POLL_SECONDS", "0.1"))
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = DATA_DIR / "celery" / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(DATA_DIR / "celery" / "processed"),
        "store_processed": False,
        "polling_interval": CREDENCE_EMBEDDED_BROKER_POLL_SECONDS,
    }
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": REDIS_TIMEOUT}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = REDIS_TIMEOUT
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celery" / "beat-schedule")

# --- Auth (django-allauth) ------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_ADAPTER = "apps.accounts.adapters.AccountAdapter"
ACCOUNT_EMAIL_SUBJECT_PREFIX = f"[{SITE_NAME}] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = env_str("ACCOUNT_DEFAULT_HTTP_PROTOCOL", "http")
# Failed logins: 10 a minute per address, and 5 in 5 minutes per account *and* address (the adapter adds
# the address to allauth's per-account key). Per account alone, anyone who knew an email could lock its
# owner out; per address alone, one address could try every account.
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,5/5m/key"}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = SITE_NAME

# --- Email ----------------------------------------------------------------------------------------
# Console locally (apps.core.mail: each message as its reader sees it, links whole); production sends
# over SMTP (EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend plus EMAIL_*).


def mailers(default_backend: str) -> dict:
    """Django 6.1's MAILERS from the EMAIL_* variables (EMAIL_BACKEND and friends are deprecated settings)."""
    backend = env_str("EMAIL_BACKEND", default_backend)
    options: dict = {}
    if backend.endswith("smtp.EmailBackend"):
        options = {
            "host": env_str("EMAIL_HOST", "localhost"),
            "port": env_int("EMAIL_PORT", 587),
            "username": env_str("EMAIL_HOST_USER", ""),
            "password": env_str("EMAIL_HOST_PASSWORD", ""),
            "use_tls": env_bool("EMAIL_USE_TLS", True),
            "timeout": 10,
        }
    return {"default": {"BACKEND": backend, "OPTIONS": options}}


MAILERS = mailers("apps.core.mail.ConsoleEmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Credence <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Internationalisation and static files ---------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Security -------------------------------------------------------------------------------------
# Every asset is served by the app itself: the policy names no other origin.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    # A form may post only here, and be redirected on to Stripe's pages (Checkout, Identity): browsers apply
    # form-action to every redirect after a form's POST, and buying credit is a POST answered with Stripe's page.
    "form-action": [
        CSP.SELF,
        *env_list("STRIPE_PAGE_ORIGINS", ["https://checkout.stripe.com", "https://verify.stripe.com"]),
    ],
    "frame-ancestors": [CSP.NONE],
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True

# --- Logs and metrics (docs/operations.md, "Watching it run") --------------------------------------
# Every logger (ours, Django's, Celery's, the servers') through structlog (apps/core/logs.py): readable lines
# here, one JSON object per line with LOG_FORMAT=json (the production default), each with its request id.
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOG_FORMAT = env_str("LOG_FORMAT", "console")
LOGGING_CONFIG = "apps.core.logs.logging_configure"
LOGGING = logging_settings(LOG_FORMAT, LOG_LEVEL)
# /metrics (apps/core/views.py) answers a scraper that sends `Authorization: Bearer <this>`, and signed-in
# staff; nobody when empty but staff. With PROMETHEUS_MULTIPROC_DIR set (read by prometheus_client itself,
# before any metric exists), every process on the host writes its counters there and /metrics adds them up.
CREDENCE_METRICS_TOKEN = env_str("CREDENCE_METRICS_TOKEN", "")
PROMETHEUS_MULTIPROC_DIR = env_str("PROMETHEUS_MULTIPROC_DIR", "")

# --- Credence -------------------------------------------------------------------------------------
CREDENCE_SIGNUP_GRANT_CREDITS = env_int("CREDENCE_SIGNUP_GRANT_CREDITS", 1000)
CREDENCE_MAX_AGENTS_PER_OWNER = env_int("CREDENCE_MAX_AGENTS_PER_OWNER", 10)
CREDENCE_MAX_KEYS_PER_AGENT = env_int("CREDENCE_MAX_KEYS_PER_AGENT", 10)
# What an owner below verified_human may do (docs/architecture.md, "What verification unlocks"): an unverified
# account is cheap to make many of, so it may own this many agents (CREDENCE_MAX_AGENTS_PER_OWNER caps a
# verified person)...
CREDENCE_UNVERIFIED_MAX_AGENTS = env_int("CREDENCE_UNVERIFIED_MAX_AGENTS", 2)
# ...fund an agent's wallet up to this many credits, no further (withdrawing is never limited)...
CREDENCE_UNVERIFIED_AGENT_FUNDING_LIMIT_CREDITS = env_int("CREDENCE_UNVERIFIED_AGENT_FUNDING_LIMIT_CREDITS", 100)
# ...and counts in the consensus at this share of the weight its record earns (it and its agents alike).
CREDENCE_UNVERIFIED_WEIGHT_FACTOR = float(env_str("CREDENCE_UNVERIFIED_WEIGHT_FACTOR", "0.25"))
CREDENCE_API_PAGE_SIZE = env_int("CREDENCE_API_PAGE_SIZE", 50)
# Moderation (apps/moderation): flags one person (with their agents) may raise a day, and how long a flag's or an
# appeal's review waits in the staff queue before it is escalated (flagged to every staff member again).
CREDENCE_FLAGS_PER_DAY = env_int("CREDENCE_FLAGS_PER_DAY", 20)
CREDENCE_FLAG_REVIEW_TIMEOUT_SECONDS = env_int("CREDENCE_FLAG_REVIEW_TIMEOUT_SECONDS", 2 * 24 * 3600)
CREDENCE_APPEAL_REVIEW_TIMEOUT_SECONDS = env_int("CREDENCE_APPEAL_REVIEW_TIMEOUT_SECONDS", 3 * 24 * 3600)
# How many proxies in front of the app append to X-Forwarded-For (the shipped nginx is one: docker/compose.yaml
# sets 1). Every limit that counts per address takes the client from apps.core.throttling.client_address,
# which believes exactly this many right-most hops; 0 believes none and counts REMOTE_ADDR.
CREDENCE_TRUSTED_PROXIES = env_int("CREDENCE_TRUSTED_PROXIES", 0)
# API rate limits (apps/core/throttling.py, counted in the cache): anonymous per address, authenticated per caller.
CREDENCE_API_RATE_ANON = env_str("CREDENCE_API_RATE_ANON", "120/min")
CREDENCE_API_RATE_AUTH = env_str("CREDENCE_API_RATE_AUTH", "1200/min")
# Markets: trading fee in basis points (100 = 1%), liquidity b bounds (credits), challenge window bounds (hours),
# and how many open claims one identity may author at once.
CREDENCE_TRADING_FEE_BPS = env_int("CREDENCE_TRADING_FEE_BPS", 100)
CREDENCE_LIQUIDITY_MIN_CREDITS = env_int("CREDENCE_LIQUIDITY_MIN_CREDITS", 10)
CREDENCE_LIQUIDITY_MAX_CREDITS = env_int("CREDENCE_LIQUIDITY_MAX_CREDITS", 10_000)
CREDENCE_CHALLENGE_WINDOW_HOURS = env_int("CREDENCE_CHALLENGE_WINDOW_HOURS", 24)
CREDENCE_CHALLENGE_WINDOW_MIN_HOURS = env_int("CREDENCE_CHALLENGE_WINDOW_MIN_HOURS", 1)
CREDENCE_CHALLENGE_WINDOW_MAX_HOURS = env_int("CREDENCE_CHALLENGE_WINDOW_MAX_HOURS", 168)
CREDENCE_MAX_OPEN_CLAIMS = env_int("CREDENCE_MAX_OPEN_CLAIMS", 20)
# Resolution bonds: a fixed minimum (credits) plus a share of the market's volume (basis points).
# How long a review panel's answer to a dispute waits before it stands (staff may overrule it meanwhile).
CREDENCE_DISPUTE_OVERRULE_HOURS = env_int("CREDENCE_DISPUTE_OVERRULE_HOURS", 24)
CREDENCE_BOND_MIN_CREDITS = env_int("CREDENCE_BOND_MIN_CREDITS", 10)
CREDENCE_BOND_VOLUME_BPS = env_int("CREDENCE_BOND_VOLUME_BPS", 100)
CREDENCE_MAX_CLAIM_HORIZON_DAYS = env_int("CREDENCE_MAX_CLAIM_HORIZON_DAYS", 3650)

# Reviews (apps/reviews). A reviewer's lease on a request, how long a process keeps a checkpoint's policies
# before reading them again, how long staff have for an escalated request, how many people a panel invites
# (at least three per seat), how many requests taking the next one may pass over for a conflict, and how
# long a finished request may wait for its continuation before the sweep queues it again.
CREDENCE_REVIEW_LEASE_SECONDS = env_int("CREDENCE_REVIEW_LEASE_SECONDS", 15 * 60)
CREDENCE_REVIEW_POLICY_CACHE_SECONDS = env_int("CREDENCE_REVIEW_POLICY_CACHE_SECONDS", 5)
CREDENCE_REVIEW_STAFF_TIMEOUT_SECONDS = env_int("CREDENCE_REVIEW_STAFF_TIMEOUT_SECONDS", 7 * 24 * 3600)
CREDENCE_REVIEW_PANEL_INVITED = env_int("CREDENCE_REVIEW_PANEL_INVITED", 10)
CREDENCE_REVIEW_PANEL_CANDIDATES_SCANNED = env_int("CREDENCE_REVIEW_PANEL_CANDIDATES_SCANNED", 2000)
CREDENCE_REVIEW_TAKE_ATTEMPTS = env_int("CREDENCE_REVIEW_TAKE_ATTEMPTS", 20)
CREDENCE_REVIEW_RESUME_GRACE_SECONDS = env_int("CREDENCE_REVIEW_RESUME_GRACE_SECONDS", 120)
# How long an owner has to review their supervised agent's order.
CREDENCE_REVIEW_TRADE_TIMEOUT_SECONDS = env_int("CREDENCE_REVIEW_TRADE_TIMEOUT_SECONDS", 24 * 3600)

# Hosted agents (apps/agents): a run's soft time limit (it ends as timed out) and hard one (its process is
# killed), and how many times a run whose worker was lost is tried.
CREDENCE_AGENT_RUN_SOFT_SECONDS = env_int("CREDENCE_AGENT_RUN_SOFT_SECONDS", 120)
CREDENCE_AGENT_RUN_HARD_SECONDS = env_int("CREDENCE_AGENT_RUN_HARD_SECONDS", 150)
CREDENCE_AGENT_RUN_MAX_ATTEMPTS = env_int("CREDENCE_AGENT_RUN_MAX_ATTEMPTS", 3)
# A run still queued this long after its task was sent is queued again (the broker lost it or was down).
CREDENCE_AGENT_RUN_REQUEUE_SECONDS = env_int("CREDENCE_AGENT_RUN_REQUEUE_SECONDS", 300)
# (CREDENCE_AGENTS_DISPATCH_SECONDS, 10 by default: the beat schedule in config/celery.py reads it.)
# The language-model strategy is off unless switched on; its calls' time limit and the largest answer read.
CREDENCE_AGENTS_LLM_ENABLED = env_bool("CREDENCE_AGENTS_LLM_ENABLED", False)
CREDENCE_AGENTS_LLM_TIMEOUT_SECONDS = float(env_str("CREDENCE_AGENTS_LLM_TIMEOUT_SECONDS", "30"))
# Webhooks (apps/webhooks; docs/api.md, "Webhooks"). Loopback receivers (and plain http to them) only where
# allowed: local and test settings. The resolver is a dotted path (tests stub it; apps/core/http.py).
CREDENCE_HTTP_ALLOW_LOOPBACK = env_bool("CREDENCE_HTTP_ALLOW_LOOPBACK", False)
CREDENCE_HTTP_RESOLVER = env_str("CREDENCE_HTTP_RESOLVER", "apps.core.http.system_resolver")
# One attempt: connecting, sending and reading the answer together (a watchdog enforces it), at most this
# many bytes of the answer read.
CREDENCE_WEBHOOK_TIMEOUT_SECONDS = float(env_str("CREDENCE_WEBHOOK_TIMEOUT_SECONDS", "5"))
CREDENCE_WEBHOOK_RESPONSE_CAP_BYTES = env_int("CREDENCE_WEBHOOK_RESPONSE_CAP_BYTES", 64 * 1024)
# Retries stop this long after a delivery's first attempt; a rotated secret keeps signing this long.
CREDENCE_WEBHOOK_RETRY_HOURS = env_int("CREDENCE_WEBHOOK_RETRY_HOURS", 24)
CREDENCE_WEBHOOK_SECRET_OVERLAP_HOURS = env_int("CREDENCE_WEBHOOK_SECRET_OVERLAP_HOURS", 24)
CREDENCE_WEBHOOK_MAX_PER_AGENT = env_int("CREDENCE_WEBHOOK_MAX_PER_AGENT", 10)
# The sender: deliveries taken per run, POSTs in flight at once per worker; the beat's ticks (seconds).
CREDENCE_WEBHOOK_SEND_BATCH = env_int("CREDENCE_WEBHOOK_SEND_BATCH", 100)
CREDENCE_WEBHOOK_SEND_CONCURRENCY = env_int("CREDENCE_WEBHOOK_SEND_CONCURRENCY", 8)
CREDENCE_WEBHOOK_FANOUT_SECONDS = float(env_str("CREDENCE_WEBHOOK_FANOUT_SECONDS", "2"))
CREDENCE_WEBHOOK_SEND_SECONDS = float(env_str("CREDENCE_WEBHOOK_SEND_SECONDS", "5"))

# Billing and verification (apps/billing; README "Stripe"). Without STRIPE_SECRET_KEY buying credit is off (the
# purchase page says so) and verification goes to a staff review. STRIPE_API_BASE points the client elsewhere
# (the tests' local Stripe; `localstripe`); the webhook secret is the endpoint's (or `stripe listen`'s) whsec_.
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY", "")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET", "")
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "")
# Stripe Identity is used for verification when Stripe is configured, unless switched off here.
STRIPE_IDENTITY_ENABLED = env_bool("STRIPE_IDENTITY_ENABLED", True)
# A signed event older or further in the future than this is refused (Stripe's own default tolerance).
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env_int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", 300)
# The packages a fresh database starts with (migration 0002; staff edit them in the admin afterwards):
# name, credits, price in the currency's minor unit.
CREDENCE_CREDIT_PACKAGES = [
    {"name": "Starter", "credits": 500, "price": 500},
    {"name": "Regular", "credits": 2_000, "price": 1_800},
    {"name": "Serious", "credits": 10_000, "price": 8_000},
]
CREDENCE_BILLING_CURRENCY = env_str("CREDENCE_BILLING_CURRENCY", "usd")
# An account younger than this many days may buy at most this much (minor units) per rolling 24 hours,
# counted over the purchases it started (paid or still open), checked before a Checkout Session is created.
CREDENCE_BILLING_NEW_ACCOUNT_DAYS = env_int("CREDENCE_BILLING_NEW_ACCOUNT_DAYS", 30)
CREDENCE_BILLING_NEW_ACCOUNT_DAILY_LIMIT = env_int("CREDENCE_BILLING_NEW_ACCOUNT_DAILY_LIMIT", 5_000)
# The key of the documents' fingerprints (an HMAC): by default derived from SECRET_KEY. Changing it makes
# every stored fingerprint unmatchable: set it once.
CREDENCE_IDENTITY_FINGERPRINT_KEY = env_str("CREDENCE_IDENTITY_FINGERPRINT_KEY", "")
# How long a person's verification review waits before it goes to staff.
CREDENCE_VERIFICATION_REVIEW_TIMEOUT_SECONDS = env_int("CREDENCE_VERIFICATION_REVIEW_TIMEOUT_SECONDS", 3 * 24 * 3600)

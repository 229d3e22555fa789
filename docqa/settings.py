"""Django settings, read from environment variables only (see .env.example).

When DATABASE_URL / REDIS_URL are unset, `var/local.env` (written by docqa.local_services when it
starts the project-local servers) supplies them. Nothing else is read from disk.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from docqa.sso import oidc_providers, parse_auto_join
from docqa.storage import default_storage_config, is_remote

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
_local_env = BASE_DIR / "var" / "local.env"
if _local_env.exists():
    # overwrite=False: a real environment variable always wins over the local servers' file.
    environ.Env.read_env(str(_local_env), overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)

_DEV_SECRET = "dev-only-insecure-secret-key-change-me-in-production-0123456789"  # noqa: S105
SECRET_KEY = env("DJANGO_SECRET_KEY", default=_DEV_SECRET if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("Set DJANGO_SECRET_KEY (or DJANGO_DEBUG=1 for development).")

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "apps.core",
    "apps.audit",
    "apps.accounts",
    "apps.workspaces",
    "apps.moonshot",
    "apps.chat",
    "apps.documents",
    "apps.ops",
    "apps.api",
    "apps.exports",
    "apps.sharing",
    # Single sign-on (docqa/sso.py): allauth's social login with its OpenID Connect provider.
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    # django-ninja's Swagger page from our own static files, not a CDN (the app runs offline).
    "ninja",
]

# Django's middleware in async-native subclasses (apps/core/async_middleware.py): under ASGI
# their hooks run on the event loop, and only a hook that may block goes to a thread.
MIDDLEWARE = [
    "apps.core.async_middleware.SecurityMiddleware",
    "apps.core.middleware.AsyncWhiteNoiseMiddleware",
    "apps.core.async_middleware.SessionMiddleware",
    "apps.core.async_middleware.LocaleMiddleware",
    "apps.core.busy.DatabaseBusyMiddleware",  # a view that found the DB pool empty: 503
    "apps.core.async_middleware.CommonMiddleware",
    "apps.core.async_middleware.CsrfViewMiddleware",
    "apps.core.async_middleware.AuthenticationMiddleware",
    "apps.core.async_middleware.MessageMiddleware",
    # allauth's request context for its login flow; sync and async both, so no thread hop.
    "allauth.account.middleware.AccountMiddleware",
    "apps.core.async_middleware.XFrameOptionsMiddleware",
    "apps.core.async_middleware.ConcurrencyGateMiddleware",
]
# Requests of one process inside their view at once (ConcurrencyGateMiddleware). A view is
# mostly Python holding the GIL, so a few at a time use the process as well as many, and each
# more takes the GIL from the loop that relays the streams: extra p99 chunk delay under a
# burst of 500 questions 18 ms at 1, 44 ms at 2, 88 ms at 4 (330 ms at 8, 635 ms at 20 before
# other changes; docs/benchmarks.md). Not 1: one slow view (a large upload) would hold up all.
SYNC_VIEW_CONCURRENCY = env.int("DJANGO_SYNC_VIEW_CONCURRENCY", default=2)
# Django's checks for these three look for its own dotted paths; apps/core/checks.py makes the
# same demand of the subclasses above.
SILENCED_SYSTEM_CHECKS = ["security.W001", "security.W002", "security.W003"]

ROOT_URLCONF = "docqa.urls"
WSGI_APPLICATION = "docqa.wsgi.application"
ASGI_APPLICATION = "docqa.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "apps.workspaces.context_processors.workspace_nav",
                "apps.accounts.context_processors.login_options",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
if "DATABASE_URL" not in env.ENVIRON:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. Use `make run` / `make test`, which start a project-local "
        "PostgreSQL, or run `python -m docqa.local_services up` first."
    )
DATABASES = {"default": env.db_url("DATABASE_URL")}
# A Unix-socket directory arrives percent-encoded in the host part (postgres://u@%2Fpath/db).
DATABASES["default"]["HOST"] = unquote(DATABASES["default"]["HOST"])
# Under ASGI a persistent connection per request thread leaks; connections are opened per use.
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"].setdefault("OPTIONS", {})
# Under ASGI each request does its database work in a thread of its own, so a burst of N chat
# questions opens N connections at once, and PostgreSQL refuses them past max_connections. The
# web process therefore borrows from a bounded pool (Django's psycopg pool); a request that finds
# it empty waits up to DJANGO_DB_POOL_TIMEOUT seconds. 0 (the default) is no pool: Celery's
# prefork workers must not inherit one from their parent, so only the web server sets it.
DB_POOL_SIZE = env.int("DJANGO_DB_POOL_SIZE", default=0)
if DB_POOL_SIZE > 0:
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": 1,
        "max_size": DB_POOL_SIZE,
        "timeout": env.float("DJANGO_DB_POOL_TIMEOUT", default=30.0),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: one URL for the broker, the cache and the provider admission controller -------------
REDIS_URL = env("REDIS_URL", default="")
if not REDIS_URL:
    raise ImproperlyConfigured("REDIS_URL is not set (make run / make test start a local Redis).")


# Seconds to connect to Redis, and to wait for one reply (cache, sessions, throttle, admission).
REDIS_CONNECT_TIMEOUT = env.float("REDIS_CONNECT_TIMEOUT", default=2.0)
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=5.0)


def _kombu_url(url: str) -> str:
    """kombu spells Unix-socket Redis `redis+socket:///path?virtual_host=N`."""
    parts = urlsplit(url)
    if parts.scheme != "unix":
        return url
    db = parse_qs(parts.query).get("db", ["0"])[0]
    return f"redis+socket://{parts.path}?virtual_host={db}"


CACHES = {
    "default": {
        "BACKEND": "apps.core.cache.SharedRedisCache",  # one pool per process, not per request
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "docqa",
        # Shared by every request thread of a process (apps/core/cache.py): past 500 connections
        # a request waits for one (up to 20 s) instead of failing; redis-py's default pool
        # refuses past 100, which 500 simultaneous questions reached.
        # Short socket timeouts: with Redis down or hung, a page answers "busy or restarting"
        # (apps/core/outage.py) within seconds instead of hanging.
        "OPTIONS": {
            "pool_class": "redis.BlockingConnectionPool",
            "max_connections": 500,
            "timeout": 20,
            "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
            "socket_timeout": REDIS_SOCKET_TIMEOUT,
        },
    }
}

# --- Celery (reference C1) ----------------------------------------------------------------------
CELERY_BROKER_URL = _kombu_url(REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=900)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
# Longer than the longest task plus the longest retry countdown, so nothing is redelivered
# while a first copy still runs.
CELERY_VISIBILITY_TIMEOUT = CELERY_TASK_TIME_LIMIT * 4
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
}
# Publishing a task while Redis is down fails after about a second (then the request answers
# "busy or restarting"), not after kombu's default retries.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 0.5,
}
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_MAX_TASKS_PER_CHILD = 50
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "reconcile-provider-files": {"task": "moonshot.reconcile_files", "schedule": 15 * 60},
    "enforce-provider-retention": {"task": "moonshot.enforce_retention", "schedule": 5 * 60},
    # Remote copies queued for deletion whose first try failed (provider down), with backoff.
    "release-provider-files": {"task": "moonshot.release_files", "schedule": 60.0},
    # Documents whose task was lost (broker flushed, worker killed past its retries) are put back
    # on the queue or failed; see apps.documents.pipeline.sweep_stuck_documents.
    "documents.sweep_stuck": {"task": "documents.sweep_stuck_documents", "schedule": 300.0},
    # Answers left "streaming" by a server process that died mid-stream are marked interrupted
    # once their lease runs out: within CHAT_STREAM_LEASE_SECONDS + this schedule of the death.
    # Workspace export zips past EXPORT_RETENTION_HOURS are deleted from storage.
    "exports.delete_expired": {"task": "exports.delete_expired", "schedule": 15 * 60.0},
    # Audit events older than DOCQA_AUDIT_RETENTION_DAYS are purged (apps.audit.services).
    "audit.purge_expired": {"task": "audit.purge_expired", "schedule": 6 * 3600.0},
    "chat.interrupt_orphaned": {
        "task": "chat.interrupt_orphaned_answers",
        "schedule": env.float("CHAT_SWEEP_SECONDS", default=15.0),
    },
}
# Exactly one beat schedules (docqa/beat_lock.py): its Redis lock lives this long unrenewed, so
# a standby beat takes over this long after the first was killed (at once after a clean stop).
DOCQA_BEAT_LOCK_SECONDS = env.int("DOCQA_BEAT_LOCK_SECONDS", default=30)
# A streaming answer's process renews the answer's lease this often (saving its text so far),
# for this long; an answer whose lease ran out lost its process (apps.chat.services.
# interrupt_orphaned_answers). Several renewals fit in a lease, so a busy moment is no death.
CHAT_STREAM_LEASE_SECONDS = env.float("CHAT_STREAM_LEASE_SECONDS", default=45.0)
CHAT_STREAM_LEASE_RENEW_SECONDS = env.float("CHAT_STREAM_LEASE_RENEW_SECONDS", default=10.0)
# Rows made before leases existed have none: one still streaming this long after it started has
# lost its process.
CHAT_ABANDONED_AFTER_SECONDS = env.int("CHAT_ABANDONED_AFTER_SECONDS", default=30 * 60)

# Workspace exports (apps/exports): up to this many conversations the zip is built in the
# request; more go to the worker, with progress. Finished zips are deleted after this many hours.
EXPORT_DIRECT_MAX_CONVERSATIONS = env.int("EXPORT_DIRECT_MAX_CONVERSATIONS", default=50)
EXPORT_RETENTION_HOURS = env.float("EXPORT_RETENTION_HOURS", default=24.0)
# Runs of one export (a worker killed mid-run is redelivered) before it is failed.
EXPORT_MAX_ATTEMPTS = env.int("EXPORT_MAX_ATTEMPTS", default=3)

# The audit log (apps/audit) keeps events this many days; 0 keeps them forever.
DOCQA_AUDIT_RETENTION_DAYS = env.int("DOCQA_AUDIT_RETENTION_DAYS", default=365)
if DOCQA_AUDIT_RETENTION_DAYS < 0:
    raise ImproperlyConfigured("DOCQA_AUDIT_RETENTION_DAYS must be 0 (keep forever) or more.")

# The API for programs (apps/api): requests per key per minute (429 + Retry-After beyond).
API_RATE_LIMIT_PER_MINUTE = env.int("API_RATE_LIMIT_PER_MINUTE", default=120)
# Characters of extracted text each web process keeps between questions (apps.documents.
# text_cache): 32M is ~80 full 128k-token contexts, at most ~130 MB of memory.
DOCQA_TEXT_CACHE_CHARS = env.int("DOCQA_TEXT_CACHE_CHARS", default=32_000_000)

# --- Moonshot -----------------------------------------------------------------------------------
MOONSHOT_API_KEY = env("MOONSHOT_API_KEY", default="")
MOONSHOT_BASE_URL = env("MOONSHOT_BASE_URL", default="https://api.moonshot.cn/v1")
# Models chat may use; "auto" picks the smallest window that fits. Windows and prices per model
# come from apps.moonshot.catalogue, extended or overridden by MOONSHOT_MODELS (a dict).
MOONSHOT_CHAT_MODELS = env.list(
    "MOONSHOT_CHAT_MODELS", default=["moonshot-v1-8k", "moonshot-v1-32k", "moonshot-v1-128k"]
)
MOONSHOT_MODELS: dict[str, dict] = {}
# Per-phase timeouts in seconds; READ is the longest allowed gap between two streamed chunks.
MOONSHOT_CONNECT_TIMEOUT = env.float("MOONSHOT_CONNECT_TIMEOUT", default=5.0)
MOONSHOT_READ_TIMEOUT = env.float("MOONSHOT_READ_TIMEOUT", default=120.0)
MOONSHOT_WRITE_TIMEOUT = env.float("MOONSHOT_WRITE_TIMEOUT", default=120.0)
MOONSHOT_POOL_TIMEOUT = env.float("MOONSHOT_POOL_TIMEOUT", default=10.0)
# The provider keeps at most 1000 files / 10 GiB. The ledger stops a little short, leaving
# headroom for uploads in flight and for files other tools put on the same key.
MOONSHOT_FILE_SLOTS = env.int("MOONSHOT_FILE_SLOTS", default=980)
MOONSHOT_FILE_BYTES = env.int("MOONSHOT_FILE_BYTES", default=10 * 1024**3 - 500 * 1024**2)
MOONSHOT_MAX_FILE_BYTES = 100 * 1024**2  # the provider's per-file cap
# Retention: "delete" removes a remote copy once its text is cached; "keep" keeps copies up to
# the high-water marks and evicts the least recently used beyond them.
MOONSHOT_RETENTION = env("MOONSHOT_RETENTION", default="delete")
MOONSHOT_KEEP_FILES = env.int("MOONSHOT_KEEP_FILES", default=900)
MOONSHOT_KEEP_BYTES = env.int("MOONSHOT_KEEP_BYTES", default=9 * 1024**3)
# Remote files younger than this are never treated as orphans (their upload may be in flight).
MOONSHOT_RECONCILE_GRACE_SECONDS = env.int("MOONSHOT_RECONCILE_GRACE_SECONDS", default=600)
# After a re-run uploads again a file whose killed run's upload was not found, a reconcile this
# many seconds later deletes that upload if it landed after all.
MOONSHOT_LATE_UPLOAD_CHECK_SECONDS = env.int("MOONSHOT_LATE_UPLOAD_CHECK_SECONDS", default=60)
# Files at the provider that no ledger row knows (another tool on the same key, a lost database):
# "delete" (default: the account is DocQA's transit buffer) deletes them once older than the
# grace period; "report" only lists them on /ops/, where an admin may delete them one by one.
# Copies named after a row the app already released are deleted at once under either policy.
MOONSHOT_ORPHAN_POLICY = env("MOONSHOT_ORPHAN_POLICY", default="delete")
if MOONSHOT_ORPHAN_POLICY not in ("delete", "report"):
    raise ImproperlyConfigured("MOONSHOT_ORPHAN_POLICY must be 'delete' or 'report'.")
# A document whose extraction met a busy provider (429s, overload, a full file store, after the
# client's own retries) goes back to the queue and is tried again this many seconds later.
DOCQA_PROVIDER_RETRY_SECONDS = env.int("DOCQA_PROVIDER_RETRY_SECONDS", default=20)

# --- Moonshot rate limits: the admission controller (apps.moonshot.admission) -------------------
# Limits are per provider account and shared by every model, web and worker process, so one
# Redis-backed controller admits every provider call. Values: reference moonshot-api.md §6.2
# (current tiers); older accounts and some regions report lower figures, hence the overrides.
# None in "tpd" means the tier has no daily token limit.
MOONSHOT_TIERS: dict[str, dict[str, int | None]] = {
    "tier0": {"concurrency": 1, "rpm": 3, "tpm": 500_000, "tpd": 1_500_000},
    "tier1": {"concurrency": 50, "rpm": 200, "tpm": 2_000_000, "tpd": None},
    "tier2": {"concurrency": 100, "rpm": 500, "tpm": 3_000_000, "tpd": None},
    "tier3": {"concurrency": 200, "rpm": 5_000, "tpm": 3_000_000, "tpd": None},
    "tier4": {"concurrency": 400, "rpm": 5_000, "tpm": 4_000_000, "tpd": None},
    "tier5": {"concurrency": 1_000, "rpm": 10_000, "tpm": 5_000_000, "tpd": None},
}
MOONSHOT_TIER = env("MOONSHOT_TIER", default="tier0").strip().lower()
if MOONSHOT_TIER not in MOONSHOT_TIERS:
    raise ImproperlyConfigured(
        f"MOONSHOT_TIER={MOONSHOT_TIER!r} is unknown; use one of {', '.join(MOONSHOT_TIERS)}."
    )


def _limit_override(name: str, raw: str, *, zero_means_unlimited: bool = False) -> int | None:
    """An optional integer override: empty means "use the tier's value"."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None
    if value < 0 or (value == 0 and not zero_means_unlimited):
        raise ImproperlyConfigured(f"{name} must be positive.")
    return value


_limit_overrides = {
    "concurrency": _limit_override("MOONSHOT_CONCURRENCY", env("MOONSHOT_CONCURRENCY", default="")),
    "rpm": _limit_override("MOONSHOT_RPM", env("MOONSHOT_RPM", default="")),
    "tpm": _limit_override("MOONSHOT_TPM", env("MOONSHOT_TPM", default="")),
    "tpd": _limit_override(
        "MOONSHOT_TPD", env("MOONSHOT_TPD", default=""), zero_means_unlimited=True
    ),
}
# The effective limits: the tier's values with any override applied (tpd None = unlimited).
MOONSHOT_LIMITS: dict[str, int | None] = {
    key: (value if _limit_overrides[key] is None else (_limit_overrides[key] or None))
    for key, value in MOONSHOT_TIERS[MOONSHOT_TIER].items()
}
# After a provider 429 every process pauses for what the provider asked ("try again after N
# seconds", Retry-After), at least MIN (the reference's "sleep 3 s"); each further 429 of a run
# doubles the pause up to MAX, and a success ends the run (apps/moonshot/admission).
MOONSHOT_COOLDOWN_MIN_SECONDS = env.float("MOONSHOT_COOLDOWN_MIN_SECONDS", default=3.0)
MOONSHOT_COOLDOWN_MAX_SECONDS = env.float("MOONSHOT_COOLDOWN_MAX_SECONDS", default=60.0)
# The sliding window for RPM/TPM: 61 s, one second more than the provider's minute, covers clock
# skew and transit (anchors §B5).
MOONSHOT_RATE_WINDOW_SECONDS = env.float("MOONSHOT_RATE_WINDOW_SECONDS", default=61.0)
# A concurrency slot is a lease renewed every third of this while held; a killed process's slot
# returns after at most this long.
MOONSHOT_LEASE_SECONDS = env.float("MOONSHOT_LEASE_SECONDS", default=90.0)
# The provider's day for TPD; its reset time is unconfirmed, Beijing midnight is assumed.
MOONSHOT_TPD_RESET_UTC_OFFSET_HOURS = 8
# Redis keys are "{<namespace>}:..." (one hash tag, so a Redis Cluster keeps them on one slot).
MOONSHOT_ADMISSION_NAMESPACE = "ms"

# --- Documents ---------------------------------------------------------------------------------
# Largest accepted upload; the provider's own cap (100 MB per file) applies on top of this.
DOCQA_MAX_UPLOAD_BYTES = env.int("DOCQA_MAX_UPLOAD_BYTES", default=100 * 1024 * 1024)
# Extraction runs per document before it is failed; stored on each row when it is created, so a
# task that kills its worker every time (OOM, segfault) ends FAILED instead of looping forever.
DOCQA_EXTRACT_MAX_ATTEMPTS = env.int("DOCQA_EXTRACT_MAX_ATTEMPTS", default=3)
# Runs killed or lost mid-extraction (SIGKILL, OOM, a restart) are counted apart from attempts:
# a file that kills its worker every time still ends FAILED, after this many interruptions.
DOCQA_EXTRACT_MAX_INTERRUPTIONS = env.int("DOCQA_EXTRACT_MAX_INTERRUPTIONS", default=10)
# A document queued or in progress for longer than this is treated as lost by the sweep. It must
# exceed the hard task time limit, or a slow but live extraction would be run twice.
DOCQA_EXTRACT_STUCK_SECONDS = max(
    env.int("DOCQA_EXTRACT_STUCK_SECONDS", default=1800), CELERY_TASK_TIME_LIMIT + 60
)

# --- Auth ---------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "workspaces:home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Failed logins per client address, and per e-mail, before the form refuses more for the window.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_FAILURE_WINDOW_SECONDS = env.int("LOGIN_FAILURE_WINDOW_SECONDS", default=900)
INVITATION_TTL_DAYS = env.int("INVITATION_TTL_DAYS", default=7)

# --- Single sign-on: OpenID Connect through django-allauth (docqa/sso.py, docs/sso.md) ----------
# Off: the login page has no password form, password POSTs are refused and nobody can sign up
# with a password; people sign in through the identity provider only.
DOCQA_PASSWORD_LOGIN = env.bool("DOCQA_PASSWORD_LOGIN", default=True)
SOCIALACCOUNT_PROVIDERS = oidc_providers(env)
DOCQA_SSO_AUTO_JOIN = parse_auto_join(env("DOCQA_SSO_AUTO_JOIN", default=""))
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
# Our User has no username: the e-mail is the login. Local sign-up and login stay in
# apps/accounts; allauth serves only the OIDC redirect flow (no allauth account URLs).
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_ADAPTER = "apps.accounts.sso.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "apps.accounts.sso.SocialAccountAdapter"
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
# An identity provider that vouches for an e-mail (email_verified: true) signs its owner in to
# the local account with that e-mail, and links the two; an unverified one never does.
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_LOGIN_ON_GET = False  # the button POSTs (with CSRF); a GET shows a confirm page
SOCIALACCOUNT_STORE_TOKENS = False
# Seconds to wait for the identity provider (discovery, token, userinfo) before "unreachable".
SOCIALACCOUNT_REQUESTS_TIMEOUT = env.int("DOCQA_OIDC_TIMEOUT", default=10)

# --- Mail ---------------------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="DocQA <noreply@localhost>")

# --- i18n ---------------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static and media ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env("DOCQA_STATIC_ROOT", default=str(BASE_DIR / "var" / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Uploaded originals: never under STATIC_ROOT and never served by URL; only an authorising view
# streams them back to members.
MEDIA_ROOT = Path(env("DOCQA_MEDIA_ROOT", default=str(BASE_DIR / "var" / "media")))
STORAGES = {
    # Local disk, or an S3-compatible bucket with DOCQA_STORAGE_URL (docqa/storage.py).
    "default": default_storage_config(env, MEDIA_ROOT),
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG
DOCQA_STORAGE_REDIRECT_DOWNLOADS = is_remote(STORAGES["default"]) and env.bool(
    "DOCQA_STORAGE_REDIRECT_DOWNLOADS", default=False
)

# --- Security (python manage.py check --deploy is clean with DJANGO_DEBUG=0) ---------------------
_secure = env.bool("DJANGO_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = _secure
SESSION_COOKIE_SECURE = _secure
CSRF_COOKIE_SECURE = _secure
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=3600 if _secure else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _secure
SECURE_HSTS_PRELOAD = _secure
# A proxy in front: its X-Forwarded-Proto says whether the client used HTTPS, and its
# X-Forwarded-For which address the client has (apps/core/client_address.py). Without it both
# headers are the client's own words and ignored. TRUSTED_PROXIES (addresses or networks of the
# proxies) makes a request that did not come through them count by its own address; without it
# PROXY_HOPS (default 1) proxies are assumed, the connection's peer being the first.
BEHIND_PROXY = env.bool("DJANGO_BEHIND_PROXY", default=False)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
try:
    TRUSTED_PROXIES = [
        ipaddress.ip_network(value, strict=False)
        for value in env.list("DJANGO_TRUSTED_PROXIES", default=[])
    ]
except ValueError as error:
    raise ImproperlyConfigured(f"DJANGO_TRUSTED_PROXIES: {error}") from error
PROXY_HOPS = env.int("DJANGO_PROXY_HOPS", default=0)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Sessions live in PostgreSQL and are read through the Redis cache: every request (and every
# streamed question) checks its session, and a cache hit costs no database query.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
# Upload bodies above this spill to a temp file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# --- Logging: the provider key never reaches a log line -----------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "apps.core.logging.RedactSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {
        # httpx logs request URLs at INFO; keep it quiet as paperless-ngx does.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

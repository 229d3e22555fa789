"""Django settings, read from environment variables only (see .env.example).

When DATABASE_URL / REDIS_URL are unset, `var/local.env` (written by docqa.local_services when it
starts the project-local servers) supplies them. Nothing else is read from disk.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

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
    "apps.accounts",
    "apps.workspaces",
    "apps.moonshot",
    "apps.documents",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

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
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: one URL for the broker, the cache and the provider admission controller -------------
REDIS_URL = env("REDIS_URL", default="")
if not REDIS_URL:
    raise ImproperlyConfigured("REDIS_URL is not set (make run / make test start a local Redis).")


def _kombu_url(url: str) -> str:
    """kombu spells Unix-socket Redis `redis+socket:///path?virtual_host=N`."""
    parts = urlsplit(url)
    if parts.scheme != "unix":
        return url
    db = parse_qs(parts.query).get("db", ["0"])[0]
    return f"redis+socket://{parts.path}?virtual_host={db}"


CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "docqa",
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
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_MAX_TASKS_PER_CHILD = 50
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    # Documents whose task was lost (broker flushed, worker killed past its retries) are put back
    # on the queue or failed; see apps.documents.pipeline.sweep_stuck_documents.
    "documents.sweep_stuck": {"task": "documents.sweep_stuck_documents", "schedule": 300.0},
}

# --- Moonshot -----------------------------------------------------------------------------------
MOONSHOT_API_KEY = env("MOONSHOT_API_KEY", default="")
MOONSHOT_BASE_URL = env("MOONSHOT_BASE_URL", default="https://api.moonshot.cn/v1")
# Models chat may use; "auto" picks the smallest window that fits. Windows and prices per model
# come from apps.moonshot.catalogue, extended or overridden by MOONSHOT_MODELS (a dict).
MOONSHOT_CHAT_MODELS = env.list(
    "MOONSHOT_CHAT_MODELS", default=["moonshot-v1-8k", "moonshot-v1-32k", "moonshot-v1-128k"]
)
MOONSHOT_MODELS: dict[str, dict] = {}

# --- Documents ---------------------------------------------------------------------------------
# Largest accepted upload; the provider's own cap (100 MB per file) applies on top of this.
DOCQA_MAX_UPLOAD_BYTES = env.int("DOCQA_MAX_UPLOAD_BYTES", default=100 * 1024 * 1024)
# Extraction runs per document before it is failed; stored on each row when it is created, so a
# task that kills its worker every time (OOM, segfault) ends FAILED instead of looping forever.
DOCQA_EXTRACT_MAX_ATTEMPTS = env.int("DOCQA_EXTRACT_MAX_ATTEMPTS", default=3)
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
# Failed logins per (IP, e-mail) before the form refuses further tries for the window.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_FAILURE_WINDOW_SECONDS = env.int("LOGIN_FAILURE_WINDOW_SECONDS", default=900)
INVITATION_TTL_DAYS = env.int("INVITATION_TTL_DAYS", default=7)

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
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT, "base_url": None},
    },
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Security (python manage.py check --deploy is clean with DJANGO_DEBUG=0) ---------------------
_secure = env.bool("DJANGO_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = _secure
SESSION_COOKIE_SECURE = _secure
CSRF_COOKIE_SECURE = _secure
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=3600 if _secure else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _secure
SECURE_HSTS_PRELOAD = _secure
if env.bool("DJANGO_BEHIND_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
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

"""Test settings: the real settings with a fixed secret and a fast password hasher."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-not-for-production-" + "x" * 30)
os.environ.setdefault("DJANGO_SECURE", "0")

from docqa.settings import *  # noqa: F403
from docqa.storage import is_remote

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES["default"]["KEY_PREFIX"] = "docqa-test"  # noqa: F405
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
WHITENOISE_USE_FINDERS = True

# Generous provider limits so tests are not throttled to Tier0's 3 requests per minute; tests of
# admission itself set their own limits. A short cooldown keeps 429 tests quick.
MOONSHOT_LIMITS = {"concurrency": 50, "rpm": 100_000, "tpm": 100_000_000, "tpd": None}
MOONSHOT_COOLDOWN_MIN_SECONDS = 0.2

# Uploaded originals of the test run (shared with the Celery worker and uvicorn the tests start).
MEDIA_ROOT = BASE_DIR / "var" / "test-media"  # noqa: F405
if not is_remote(STORAGES["default"]):  # noqa: F405 (a test may point the worker at a bucket)
    STORAGES["default"]["OPTIONS"]["location"] = MEDIA_ROOT  # noqa: F405

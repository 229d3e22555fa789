"""Requests per API key per minute, counted in Redis (the shared cache), so every web process
sees the same count. A fixed window per minute: two INCR-class commands a request, and the
answer to "when may I retry" is the end of the window."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _

from .errors import ApiError

logger = logging.getLogger(__name__)
WINDOW_SECONDS = 60


def check(key_id: int) -> None:
    """Count one request of this key; ApiError 429 (with Retry-After) beyond the limit.

    When Redis cannot be reached the request is let through (logged): the rate limit guards
    against runaway scripts, and the provider calls behind it pass the admission controller
    anyway, which refuses without Redis.
    """
    limit = settings.API_RATE_LIMIT_PER_MINUTE
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    name = f"api:rate:{key_id}:{window}"
    try:
        cache.add(name, 0, timeout=WINDOW_SECONDS + 5)
        count = cache.incr(name)
    except Exception:
        logger.warning("API rate limit not checked: the cache is unreachable", exc_info=True)
        return
    if count > limit:
        retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
        raise ApiError(
            429,
            "rate_limited",
            _("Too many requests with this API key; retry in %(n)d s.") % {"n": retry_after},
            headers={"Retry-After": str(retry_after)},
        )

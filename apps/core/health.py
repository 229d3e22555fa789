"""What /healthz checks: the app can reach PostgreSQL and Redis (broker, cache, admission).

Each check answers within about HEALTH_TIMEOUT_SECONDS: a dead or hung Redis must make the
health check say so quickly (a supervisor or load balancer waits on it), not hang it. The
answer names each dependency and "ok" or "down"; the reason goes to the log, never to the
response (it could carry a host name or a password from a URL).
"""

from __future__ import annotations

import logging
from functools import lru_cache

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

HEALTH_TIMEOUT_SECONDS = 1.0


@lru_cache(maxsize=4)
def _redis_client(url: str) -> redis.Redis:
    """One small client per URL with short timeouts and no retries (the app's own clients
    wait much longer, rightly: they carry real work)."""
    return redis.Redis.from_url(
        url,
        socket_timeout=HEALTH_TIMEOUT_SECONDS,
        socket_connect_timeout=HEALTH_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 0),
        max_connections=4,
    )


def redis_ok() -> bool:
    try:
        return bool(_redis_client(settings.REDIS_URL).ping())
    except (redis.RedisError, OSError):
        logger.warning("health check: Redis is unreachable", exc_info=True)
        return False


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except DatabaseError:
        logger.warning("health check: the database is unreachable", exc_info=True)
        return False


def checks() -> dict[str, str]:
    """{"database": "ok" | "down", "redis": "ok" | "down"}."""
    return {
        "database": "ok" if database_ok() else "down",
        "redis": "ok" if redis_ok() else "down",
    }

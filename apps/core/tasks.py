"""Tasks that belong to no feature: a round-trip probe for health checks and tests."""

from celery import shared_task
from django.core.cache import cache


@shared_task(name="core.ping")
def ping(token: str) -> None:
    """Write `token` to the cache so the caller can see a real worker ran the task."""
    cache.set(f"ping:{token}", "pong", timeout=60)

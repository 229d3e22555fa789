"""Provider work the dashboard asks for. Thin: each task calls one service."""

from __future__ import annotations

import logging

from celery import shared_task

from apps.moonshot.client import MoonshotClient, provider_configured

from . import services

logger = logging.getLogger(__name__)


@shared_task(name="ops.evict_remote_copies")
def evict_remote_copies(mode: str) -> None:
    """Delete remote copies as an admin asked ("all" or "policy"); idempotent, so a redelivery
    after a lost worker only deletes what is still there."""
    if not provider_configured():
        return
    evicted = services.evict_remote_copies(MoonshotClient(), services.EvictMode(mode))
    logger.info("admin eviction (%s): %d remote copies deleted", mode, evicted)

"""Beat tasks of the audit log. Thin: each calls one service."""

from __future__ import annotations

import logging

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)


@shared_task(name="audit.purge_expired")
def purge_expired() -> int:
    """Delete events past DOCQA_AUDIT_RETENTION_DAYS; idempotent (a rerun finds none left)."""
    deleted = services.purge_expired()
    if deleted:
        logger.info("audit log: %d events past retention purged", deleted)
    return deleted

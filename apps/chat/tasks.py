"""Thin Celery tasks for chat: the periodic sweep of answers whose stream died with its server."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="chat.fail_abandoned_answers")
def fail_abandoned_answers() -> int:
    return services.fail_abandoned_answers()

"""Thin Celery tasks for chat: the periodic sweep of answers whose stream died with its server."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="chat.interrupt_orphaned_answers")
def interrupt_orphaned_answers() -> int:
    return services.interrupt_orphaned_answers()

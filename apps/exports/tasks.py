"""Thin Celery tasks for exports: build a large workspace export; delete expired zips."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="exports.build_workspace_export")
def build_workspace_export(export_id: int) -> None:
    services.run_export(export_id)


@shared_task(name="exports.delete_expired")
def delete_expired() -> int:
    return services.delete_expired()

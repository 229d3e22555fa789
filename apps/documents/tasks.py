"""Thin Celery tasks: load an id, call the pipeline. acks_late / reject_on_worker_lost come from
settings; the attempt cap lives on the document row (see transitions.claim)."""

from __future__ import annotations

from celery import shared_task

from . import pipeline
from .failures import ExtractionDeferred


# max_retries=None on the task: a deferral (busy provider, full file store) is not a failure and
# may happen any number of times (retry(max_retries=None) would mean Celery's default of 3).
@shared_task(name="documents.extract_document", bind=True, max_retries=None)
def extract_document(self, document_id: int) -> None:
    try:
        pipeline.run_extraction(document_id, task_id=self.request.id)
    except ExtractionDeferred as deferred:
        # Same task id on the retry, so the document's claim rules treat it as this message.
        raise self.retry(countdown=deferred.countdown) from deferred


@shared_task(name="documents.sweep_stuck_documents")
def sweep_stuck_documents() -> None:
    pipeline.sweep_stuck_documents()

"""The extraction task itself: how it retries a deferred document."""

from __future__ import annotations

from apps.documents import pipeline
from apps.documents.failures import ExtractionDeferred
from apps.documents.tasks import extract_document


def test_a_deferred_extraction_is_retried_however_often_it_is_deferred(monkeypatch):
    # A full file store or a 429 storm can defer one document many times; Celery's default of
    # three retries would leave it QUEUED with no task until the stuck-document sweep.
    calls: list[int] = []

    def run_extraction(document_id: int, *, task_id: str | None = None) -> None:
        calls.append(document_id)
        if len(calls) <= 5:
            raise ExtractionDeferred(0)

    monkeypatch.setattr(pipeline, "run_extraction", run_extraction)
    extract_document.apply(args=(7,))  # eager: each retry runs at once, inside this call
    assert calls == [7] * 6

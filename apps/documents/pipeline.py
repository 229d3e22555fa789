"""The extraction pipeline that tasks call: claim → (cached text | strategy) → store → READY.

``run_extraction`` is idempotent: a second copy of the same task, a redelivery after a crash or a
run for a deleted document all end quietly, because each step is a conditional state change
(``transitions``). ``sweep_stuck_documents`` is the safety net for tasks that vanished.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from apps.core.textclean import clean_text
from apps.moonshot.tokens import estimate_tokens

from . import remote_copies, transitions
from .extractors import ExtractionResult, ExtractionStrategy, choose_strategy
from .failures import ExtractionDeferred, ExtractionFailed
from .models import IN_PROGRESS, Document, ExtractedText, Status
from .textclean import clean_content
from .transitions import ClaimLost

logger = logging.getLogger(__name__)


@dataclass
class _Context:
    """The ExtractionContext a strategy gets while this run owns the document."""

    document: Document
    task_id: str

    def uploading(self) -> None:
        transitions.step(self.document.pk, task_id=self.task_id, to=Status.UPLOADING)

    def remote_file(self, file_id: str) -> None:
        transitions.record_remote_file(self.document.pk, task_id=self.task_id, file_id=file_id)
        self.document.remote_file_id = file_id

    def extracting(self) -> None:
        transitions.step(self.document.pk, task_id=self.task_id, to=Status.EXTRACTING)

    def open_original(self) -> IO[bytes]:
        try:
            return default_storage.open(self.document.storage_name, "rb")
        except FileNotFoundError as exc:
            raise ExtractionFailed("file_missing") from exc


def _store(document: Document, task_id: str, result: ExtractionResult) -> None:
    """Cache the text for these bytes and mark the document READY, together or not at all.

    Every strategy's text passes here, so this is where it is made storable (``textclean``):
    a NUL or a lone surrogate from a PDF font or the provider must not fail the document.
    """
    plain = clean_text(result.text)
    if not plain.strip():
        raise ExtractionFailed("no_text")
    content = clean_content(result.content)
    with transaction.atomic():
        text, _created = ExtractedText.objects.update_or_create(
            sha256=document.sha256,
            defaults={
                "content": content,
                "text": plain,
                "token_count": estimate_tokens(content or plain),
                "extractor": result.extractor,
            },
        )
        if not transitions.finish(
            document.pk, task_id=task_id, text=text, extractor=result.extractor
        ):
            raise ClaimLost(document.pk)  # rolls the cache write back with it


def run_extraction(document_id: int, *, task_id: str | None = None) -> None:
    """Extract one document's text. Raises only ExtractionDeferred (the task retries later) and
    unexpected errors after recording them; every expected failure ends as FAILED + reason."""
    task_id = task_id or uuid.uuid4().hex
    document = Document.objects.filter(pk=document_id).first()
    if document is None:
        logger.info("document %s is gone; nothing to extract", document_id)
        return
    cached = None
    if not document.refresh_requested:
        cached = ExtractedText.objects.filter(sha256=document.sha256).first()
    strategy: ExtractionStrategy | None = None if cached else choose_strategy(document)
    to = strategy.initial_status if strategy else Status.EXTRACTING
    claimed = transitions.claim(document_id, task_id=task_id, to=to)
    if claimed is None:
        logger.info("document %s is not waiting for this task; skipped", document_id)
        if Document.objects.filter(pk=document_id, status=Status.FAILED).exists():
            remote_copies.release_for(document_id)  # given up: a copy left by a killed run goes
        return
    try:
        if cached is not None:
            if not transitions.finish(
                claimed.pk, task_id=task_id, text=cached, extractor=cached.extractor
            ):
                raise ClaimLost(claimed.pk)
            return
        assert strategy is not None
        _store(claimed, task_id, strategy.extract(_Context(claimed, task_id)))
    except ExtractionFailed as failure:
        transitions.fail(claimed.pk, task_id=task_id, failure=failure)
    except ExtractionDeferred:
        transitions.defer(claimed.pk, task_id=task_id)
        raise
    except ClaimLost:
        logger.info("document %s was deleted or taken over during extraction", document_id)
        if not Document.objects.filter(pk=document_id).exists():
            remote_copies.release_for(document_id)
    except SoftTimeLimitExceeded:
        transitions.fail(claimed.pk, task_id=task_id, failure=ExtractionFailed("timeout"))
    except Exception:
        logger.exception("extraction of document %s failed unexpectedly", document_id)
        transitions.fail(claimed.pk, task_id=task_id, failure=ExtractionFailed("internal"))


@dataclass
class SweepReport:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    reenqueued: list[int] = field(default_factory=list)


def sweep_stuck_documents(*, now: datetime | None = None) -> SweepReport:
    """Recover documents whose task was lost (broker data gone, worker killed past redelivery).

    In progress past the deadline: back to QUEUED and enqueued again while attempts remain, else
    FAILED. Queued past the deadline: enqueued again (a duplicate message is a no-op). The
    deadline (DOCQA_EXTRACT_STUCK_SECONDS) exceeds the hard task time limit, so a live run is
    never taken for a lost one.
    """
    from .services import enqueue_extraction

    now = now or timezone.now()
    stuck_before = now - timedelta(seconds=settings.DOCQA_EXTRACT_STUCK_SECONDS)
    report = SweepReport()
    stale = Document.objects.filter(status_changed_at__lt=stuck_before)
    for pk, status in stale.filter(status__in=(Status.QUEUED, *IN_PROGRESS)).values_list(
        "pk", "status"
    ):
        if status == Status.QUEUED:
            if transitions.touch_queued(pk, stuck_before=stuck_before):
                enqueue_extraction(pk)
                report.reenqueued.append(pk)
        elif transitions.requeue_lost(pk, stuck_before=stuck_before):
            enqueue_extraction(pk)
            report.requeued.append(pk)
        elif transitions.fail_lost(pk, stuck_before=stuck_before):
            remote_copies.release_for(pk)
            report.failed.append(pk)
    if report.requeued or report.failed or report.reenqueued:
        logger.warning("sweep: %s", report)
    return report

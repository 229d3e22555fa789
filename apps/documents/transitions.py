"""Every change of ``Document.status``, each one conditional UPDATE.

A transition names the state it expects (and, while a task owns the document, that task's id); if
the row moved on meanwhile (deleted, claimed by another copy of the task, retried by a user) the
UPDATE matches nothing and the caller learns it lost. That is what makes duplicate and concurrent
task runs harmless without locks held across provider calls (reference §C2).
"""

from __future__ import annotations

from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from .failures import ExtractionFailed
from .models import FINAL, IN_PROGRESS, Document, ExtractedText, Status

_CLEARED = {"failure_code": "", "failure_params": {}, "failure_reason": ""}


class ClaimLost(Exception):
    """The document was deleted or taken over; the current run must stop quietly."""


def _owned(document_id: int, task_id: str):
    return Document.objects.filter(pk=document_id, status__in=IN_PROGRESS, task_id=task_id)


def claim(document_id: int, *, task_id: str, to: Status) -> Document | None:
    """Take a queued document (or re-take one this same task message owned before its worker
    died). Returns the document, or None when there is nothing to do.

    A fresh claim counts an attempt. A message redelivered after its worker was killed carries
    the same task id: it resumes the in-progress row and counts an *interruption* instead, the
    attempt it continues is not spent again (a SIGKILL of the pool is not the content's fault).
    Any other copy finds the row owned and does nothing. Past ``max_interruptions`` the row is
    failed here, which ends the poison loop of `reject_on_worker_lost` for a file that kills its
    worker every time.
    """
    now = timezone.now()
    base = Document.objects.filter(pk=document_id)
    redelivered = base.filter(status__in=IN_PROGRESS, task_id=task_id)
    resumed = redelivered.filter(interruptions__lt=F("max_interruptions") - 1).update(
        status=to, interruptions=F("interruptions") + 1, status_changed_at=now, **_CLEARED
    )
    taken = resumed or base.filter(status=Status.QUEUED, attempts__lt=F("max_attempts")).update(
        status=to, task_id=task_id, attempts=F("attempts") + 1, status_changed_at=now, **_CLEARED
    )
    if taken:
        return Document.objects.select_related("workspace").get(pk=document_id)
    interrupted = redelivered.values_list("interruptions", flat=True).first()
    if interrupted is not None:
        failure = ExtractionFailed("attempts_exhausted", attempts=interrupted + 1)
        redelivered.update(
            interruptions=F("interruptions") + 1, status_changed_at=now, **_failed(failure)
        )
        return None
    exhausted = base.filter(status=Status.QUEUED, attempts__gte=F("max_attempts"))
    attempts = exhausted.values_list("attempts", flat=True).first()
    if attempts is not None:
        exhausted.update(
            status_changed_at=now,
            **_failed(ExtractionFailed("attempts_exhausted", attempts=attempts)),
        )
    return None


def _failed(failure: ExtractionFailed) -> dict:
    return {
        "status": Status.FAILED,
        "failure_code": failure.code,
        "failure_params": failure.params,
        "failure_reason": failure.english,
    }


def step(document_id: int, *, task_id: str, to: Status) -> None:
    """Move an owned in-progress document to another in-progress state (UPLOADING/EXTRACTING)."""
    if not _owned(document_id, task_id).update(status=to, status_changed_at=timezone.now()):
        raise ClaimLost(document_id)


def record_remote_file(document_id: int, *, task_id: str, file_id: str) -> None:
    """Remember the provider's file id the moment it exists, so nothing leaks if we crash next."""
    if not _owned(document_id, task_id).update(remote_file_id=file_id):
        raise ClaimLost(document_id)


def finish(document_id: int, *, task_id: str, text: ExtractedText, extractor: str) -> bool:
    return bool(
        _owned(document_id, task_id).update(
            status=Status.READY,
            status_changed_at=timezone.now(),
            text=text,
            extractor=extractor,
            refresh_requested=False,
            **_CLEARED,
        )
    )


def fail(document_id: int, *, task_id: str, failure: ExtractionFailed) -> bool:
    return bool(
        _owned(document_id, task_id).update(status_changed_at=timezone.now(), **_failed(failure))
    )


def defer(document_id: int, *, task_id: str) -> bool:
    """Back to the queue without spending an attempt (the provider asked us to wait)."""
    return bool(
        _owned(document_id, task_id).update(
            status=Status.QUEUED,
            status_changed_at=timezone.now(),
            attempts=Greatest(F("attempts") - 1, 0),
        )
    )


def requeue_final(document_id: int, *, refresh: bool) -> bool:
    """READY/FAILED → QUEUED for a user's retry or re-extract, with a fresh attempt budget."""
    return bool(
        Document.objects.filter(pk=document_id, status__in=FINAL).update(
            status=Status.QUEUED,
            status_changed_at=timezone.now(),
            attempts=0,
            interruptions=0,
            task_id="",
            refresh_requested=refresh,
            **_CLEARED,
        )
    )


def requeue_lost(document_id: int, *, stuck_before) -> bool:
    """An in-progress document whose task vanished goes back to the queue: an interruption,
    whose attempt is refunded (the new message's claim counts it again)."""
    return bool(
        Document.objects.filter(
            pk=document_id,
            status__in=IN_PROGRESS,
            status_changed_at__lt=stuck_before,
            interruptions__lt=F("max_interruptions") - 1,
        ).update(
            status=Status.QUEUED,
            status_changed_at=timezone.now(),
            task_id="",
            interruptions=F("interruptions") + 1,
            attempts=Greatest(F("attempts") - 1, 0),
        )
    )


def touch_queued(document_id: int, *, stuck_before) -> bool:
    """A document queued for too long gets a fresh timestamp before it is enqueued again."""
    return bool(
        Document.objects.filter(
            pk=document_id, status=Status.QUEUED, status_changed_at__lt=stuck_before
        ).update(status_changed_at=timezone.now())
    )


def fail_lost(document_id: int, *, stuck_before) -> bool:
    """An in-progress document whose task vanished once too often is failed."""
    rows = Document.objects.filter(
        pk=document_id,
        status__in=IN_PROGRESS,
        status_changed_at__lt=stuck_before,
        interruptions__gte=F("max_interruptions") - 1,
    )
    interrupted = rows.values_list("interruptions", flat=True).first()
    if interrupted is None:
        return False
    failure = ExtractionFailed("attempts_exhausted", attempts=interrupted + 1)
    return bool(
        rows.update(
            interruptions=F("interruptions") + 1,
            status_changed_at=timezone.now(),
            **_failed(failure),
        )
    )

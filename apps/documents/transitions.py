"""Every change of ``Document.status``, each one conditional UPDATE.

A transition names the state it expects (and, while a task owns the document, that task's id); if
the row moved on meanwhile (deleted, claimed by another copy of the task, retried by a user) the
UPDATE matches nothing and the caller learns it lost. That is what makes duplicate and concurrent
task runs harmless without locks held across provider calls (reference §C2).
"""

from __future__ import annotations

from django.db.models import F, Q
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
    died) and count an attempt. Returns the document, or None when there is nothing to do.

    A message redelivered after the worker was killed carries the same task id, so it may resume
    the in-progress row; any other copy finds the row owned and does nothing. When the row is out
    of attempts it is failed here, which ends the poison loop of `reject_on_worker_lost`.
    """
    now = timezone.now()
    mine = Q(status=Status.QUEUED) | Q(status__in=IN_PROGRESS, task_id=task_id)
    candidates = Document.objects.filter(mine, pk=document_id)
    taken = candidates.filter(attempts__lt=F("max_attempts")).update(
        status=to, task_id=task_id, attempts=F("attempts") + 1, status_changed_at=now, **_CLEARED
    )
    if taken:
        return Document.objects.select_related("workspace").get(pk=document_id)
    attempts = candidates.values_list("attempts", flat=True).first()
    if attempts is not None:
        failure = ExtractionFailed("attempts_exhausted", attempts=attempts)
        candidates.filter(attempts__gte=F("max_attempts")).update(
            status=Status.FAILED,
            status_changed_at=now,
            failure_code=failure.code,
            failure_params=failure.params,
            failure_reason=failure.english,
        )
    return None


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
        _owned(document_id, task_id).update(
            status=Status.FAILED,
            status_changed_at=timezone.now(),
            failure_code=failure.code,
            failure_params=failure.params,
            failure_reason=failure.english,
        )
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
            task_id="",
            refresh_requested=refresh,
            **_CLEARED,
        )
    )


def requeue_lost(document_id: int, *, stuck_before) -> bool:
    """An in-progress document whose task vanished goes back to the queue (attempts kept)."""
    return bool(
        Document.objects.filter(
            pk=document_id,
            status__in=IN_PROGRESS,
            status_changed_at__lt=stuck_before,
            attempts__lt=F("max_attempts"),
        ).update(status=Status.QUEUED, status_changed_at=timezone.now(), task_id="")
    )


def touch_queued(document_id: int, *, stuck_before) -> bool:
    """A document queued for too long gets a fresh timestamp before it is enqueued again."""
    return bool(
        Document.objects.filter(
            pk=document_id, status=Status.QUEUED, status_changed_at__lt=stuck_before
        ).update(status_changed_at=timezone.now())
    )


def fail_lost(document_id: int, *, stuck_before) -> bool:
    """An in-progress document whose task vanished and has no attempts left is failed."""
    rows = Document.objects.filter(
        pk=document_id,
        status__in=IN_PROGRESS,
        status_changed_at__lt=stuck_before,
        attempts__gte=F("max_attempts"),
    )
    attempts = rows.values_list("attempts", flat=True).first()
    if attempts is None:
        return False
    failure = ExtractionFailed("attempts_exhausted", attempts=attempts)
    return bool(
        rows.update(
            status=Status.FAILED,
            status_changed_at=timezone.now(),
            failure_code=failure.code,
            failure_params=failure.params,
            failure_reason=failure.english,
        )
    )

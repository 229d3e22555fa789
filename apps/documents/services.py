"""Writes for documents: ingest an upload, retry or re-extract, delete.

Each takes the acting membership and checks the rule it enforces, so a view cannot forget one.
Broken rules raise ``DocumentError`` (or ``UploadRejected`` for a refused file) with a message for
the user. Uploads, deletions and re-extractions are recorded in the audit log inside their
transaction (``request``, when given, says from where).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from apps.audit import services as audit
from apps.audit.models import Action
from apps.workspaces.limits import LimitReached
from apps.workspaces.models import Membership, Workspace

from . import limits, transitions
from .formats import max_upload_bytes
from .models import FINAL, Document, ExtractedText, Status
from .validation import UploadRejected, inspect_upload

logger = logging.getLogger(__name__)

__all__ = ["DocumentError", "IngestResult", "UploadRejected", "ingest_upload"]


class DocumentError(Exception):
    """A rule about documents was broken; str(error) is a message for the user."""


@dataclass(frozen=True)
class IngestResult:
    document: Document
    created: bool  # False: the same bytes were already in this workspace
    reused_text: bool  # True: text cached from another workspace, READY without extraction


def _require_writer(actor: Membership) -> None:
    if not actor.can_write:
        raise DocumentError(_("Viewers can read but not change anything in this workspace."))


def enqueue_extraction(document_id: int) -> None:
    """Send the extraction task once the surrounding transaction commits (never before: the
    worker must find the row)."""
    from .tasks import extract_document

    transaction.on_commit(partial(extract_document.delay, document_id))


def ingest_upload(
    *, actor: Membership, upload: UploadedFile, request: HttpRequest | None = None
) -> IngestResult:
    """Validate one uploaded file, store it and create its Document.

    - Refused files raise UploadRejected before anything is stored, including a file that would
      break the workspace's document or storage limit (checked again under a lock on the
      workspace row, so concurrent uploads cannot both take the last place).
    - The same bytes again in this workspace: the existing document, nothing new (created=False).
    - Bytes whose text is already cached (another workspace): a READY document, no extraction.
    - Otherwise a QUEUED document whose extraction task is enqueued on commit.
    """
    _require_writer(actor)
    workspace = actor.workspace
    found = inspect_upload(upload, original_name=upload.name or "", max_bytes=max_upload_bytes())
    existing = Document.objects.filter(workspace=workspace, sha256=found.sha256).first()
    if existing is not None:
        return IngestResult(document=existing, created=False, reused_text=False)
    _check_limits(workspace, name=found.name, size=found.size)

    text = ExtractedText.objects.filter(sha256=found.sha256).first()
    document_uuid = uuid.uuid4()
    storage_name = default_storage.save(
        f"ws/{workspace.pk}/{document_uuid}.{found.extension}", upload
    )
    try:
        with transaction.atomic():
            if limits.has_upload_limits(workspace):
                locked = Workspace.objects.select_for_update().get(pk=workspace.pk)
                _check_limits(locked, name=found.name, size=found.size)
            document = Document.objects.create(
                uuid=document_uuid,
                workspace=workspace,
                uploaded_by=actor.user,
                name=found.name,
                storage_name=storage_name,
                size=found.size,
                sha256=found.sha256,
                extension=found.extension,
                mime_type=found.mime_type,
                status=Status.READY if text else Status.QUEUED,
                text=text,
                extractor=text.extractor if text else "",
            )
            if text is None:
                enqueue_extraction(document.pk)
            audit.record(
                Action.DOCUMENT_UPLOADED,
                actor=actor.user,
                workspace=workspace,
                target=document,
                target_label=document.name,
                request=request,
                details={"size": document.size, "sha256": document.sha256},
            )
    except IntegrityError:
        default_storage.delete(storage_name)
        existing = Document.objects.filter(workspace=workspace, sha256=found.sha256).first()
        if existing is None:  # not the duplicate race; e.g. the cached text was just deleted
            raise
        return IngestResult(document=existing, created=False, reused_text=False)
    except BaseException:
        default_storage.delete(storage_name)
        raise
    return IngestResult(document=document, created=True, reused_text=text is not None)


def _check_limits(workspace: Workspace, *, name: str, size: int) -> None:
    try:
        limits.check_upload_allowed(workspace, name=name, size=size)
    except LimitReached as error:
        raise UploadRejected(str(error)) from None


def reextract_document(
    *, actor: Membership, document: Document, request: HttpRequest | None = None
) -> Document:
    """Queue a READY or FAILED document again with a fresh attempt budget.

    A READY document skips the text cache once (its text is replaced, e.g. after a provider key
    was configured); a FAILED one is a plain retry.
    """
    _require_writer(actor)
    if document.workspace_id != actor.workspace_id:
        raise DocumentError(_("No such document."))
    with transaction.atomic():
        if not transitions.requeue_final(document.pk, refresh=document.status == Status.READY):
            raise DocumentError(_("This document is already being processed."))
        enqueue_extraction(document.pk)
        audit.record(
            Action.DOCUMENT_REEXTRACTED,
            actor=actor.user,
            workspace=actor.workspace,
            target=document,
            target_label=document.name,
            request=request,
            details={"was": document.status},
        )
    document.refresh_from_db()
    return document


def requeue_as_admin(
    document_ids: Iterable[int],
    *,
    statuses: Iterable[str] = FINAL,
    actor: Any = None,
    request: HttpRequest | None = None,
) -> int:
    """Site admins (dashboard, Django admin): queue documents of any workspace again, with a
    fresh attempt budget. FAILED ones are retried; READY ones skip the text cache once.

    Only documents in ``statuses`` (a subset of READY/FAILED) are touched; one that is being
    processed, or moved on meanwhile, is skipped by the conditional UPDATE. Returns how many
    were queued. The caller checks the user is staff (``actor``, recorded in the audit log of
    each document's workspace): no workspace membership is involved.
    """
    allowed = [s for s in statuses if s in FINAL]
    queued = 0
    candidates = Document.objects.filter(pk__in=list(document_ids), status__in=allowed)
    for document in candidates.select_related("workspace").only(
        "pk", "name", "status", "workspace__name", "workspace__slug"
    ):
        with transaction.atomic():
            if transitions.requeue_final(document.pk, refresh=document.status == Status.READY):
                enqueue_extraction(document.pk)
                queued += 1
                audit.record(
                    Action.DOCUMENT_REEXTRACTED,
                    actor=actor,
                    workspace=document.workspace,
                    target=document,
                    target_label=document.name,
                    request=request,
                    details={"was": document.status, "by_site_admin": True},
                )
    return queued


def delete_document(
    *, actor: Membership, document: Document, request: HttpRequest | None = None
) -> None:
    """Delete a document, its stored original, and its cached text when nothing else uses it.

    A running extraction for it finds the row gone and stops; a remote provider file it left
    behind is an orphan the provider reconcile sweep deletes.
    """
    _require_writer(actor)
    if document.workspace_id != actor.workspace_id:
        raise DocumentError(_("No such document."))
    storage_name = document.storage_name
    with transaction.atomic():
        text_id = document.text_id
        text = None
        if text_id is not None:
            # Lock the text row first, so a concurrent upload cannot attach to it while it goes,
            # and in the order the pipeline takes (text, then document): the other order
            # deadlocked against a worker storing the same text.
            text = ExtractedText.objects.select_for_update().filter(pk=text_id).first()
        deleted, _counts = Document.objects.filter(pk=document.pk).delete()
        if text is not None and not Document.objects.filter(text_id=text_id).exists():
            text.delete()
        if deleted:
            audit.record(
                Action.DOCUMENT_DELETED,
                actor=actor.user,
                workspace=actor.workspace,
                target=document,
                target_label=document.name,
                request=request,
                details={"size": document.size, "sha256": document.sha256},
            )
        transaction.on_commit(partial(_delete_file, storage_name))
    if not deleted:
        raise DocumentError(_("No such document."))


def _delete_file(storage_name: str) -> None:
    try:
        default_storage.delete(storage_name)
    except OSError:
        logger.warning("could not delete stored file %s", storage_name, exc_info=True)

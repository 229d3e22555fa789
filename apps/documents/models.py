"""Documents uploaded to a workspace and the text extracted from them.

State machine of ``Document.status``. Every arrow is a conditional UPDATE in
``apps.documents.transitions`` (it names the state it expects, and the owning task's id), so
duplicate or concurrent task runs cannot both win::

    QUEUED ──claim, provider path──▶ UPLOADING ──▶ EXTRACTING ──▶ READY
    QUEUED ──claim, local extractor or cached text──▶ EXTRACTING ──▶ READY
    QUEUED / UPLOADING / EXTRACTING ──▶ FAILED   (failure_code + params; attempts used up)

    READY / FAILED ──retry or re-extract (user)──▶ QUEUED            attempts reset to 0
    UPLOADING / EXTRACTING ──sweep, task lost──▶ QUEUED, or FAILED when attempts are used up
    UPLOADING / EXTRACTING ──deferred (provider busy)──▶ QUEUED       the attempt is refunded

UPLOADING means bytes are travelling to the provider, so local extraction skips it. A result
without text (a scan without OCR, an empty sheet) is FAILED with ``no_text``, never READY: READY
always means there is text to chat with (a check constraint also requires the text row).

Text is cached once per content hash in ``ExtractedText``; a document points at it. The same bytes
in another workspace reuse the row and need no extraction at all.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.workspaces.models import Workspace


class Status(models.TextChoices):
    QUEUED = "queued", _("Queued")
    UPLOADING = "uploading", _("Uploading")
    EXTRACTING = "extracting", _("Extracting")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")


IN_PROGRESS = (Status.UPLOADING, Status.EXTRACTING)
NOT_FINAL = (Status.QUEUED, *IN_PROGRESS)
FINAL = (Status.READY, Status.FAILED)


def default_max_attempts() -> int:
    return settings.DOCQA_EXTRACT_MAX_ATTEMPTS


def default_max_interruptions() -> int:
    return settings.DOCQA_EXTRACT_MAX_INTERRUPTIONS


class ExtractedText(models.Model):
    """The text of one distinct file content (by SHA-256), shared by every document with it.

    ``content`` is what chat puts in a system message: the compact JSON the provider's
    ``/files/{id}/content`` returns (``content, file_type, filename, title, type``), or the same
    five keys built by a local extractor. ``text`` is the plain text for display and search.
    """

    sha256 = models.CharField(max_length=64, unique=True)
    content = models.TextField(blank=True)
    text = models.TextField()
    token_count = models.PositiveIntegerField(default=0)
    extractor = models.CharField(max_length=40)
    created_at = models.DateTimeField(default=timezone.now)
    # Changes whenever the row is saved (a refresh re-extracts in place): the version by which
    # processes cache the text (apps.documents.text_cache).
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("extracted text")
        verbose_name_plural = _("extracted texts")

    def __str__(self) -> str:
        return f"{self.sha256[:12]} ({self.extractor}, {self.token_count} tokens)"


class DocumentQuerySet(models.QuerySet["Document"]):
    def for_workspace(self, workspace: Workspace) -> DocumentQuerySet:
        return self.filter(workspace=workspace)


class Document(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="documents")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The sanitised original file name, for display and downloads only; storage uses storage_name.
    name = models.CharField(_("name"), max_length=255)
    storage_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField(_("size"))
    sha256 = models.CharField(max_length=64)
    extension = models.CharField(_("type"), max_length=10)
    mime_type = models.CharField(max_length=100)

    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.QUEUED
    )
    status_changed_at = models.DateTimeField(default=timezone.now)
    failure_code = models.CharField(max_length=40, blank=True)
    failure_params = models.JSONField(default=dict, blank=True)
    # The failure in English, for admins and logs; users see failure_message in their language.
    failure_reason = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=default_max_attempts)
    # Runs that died without an outcome (worker SIGKILLed, OOM, task lost): not the content's
    # fault as a rule, so they have their own, larger budget and refund their attempt.
    interruptions = models.PositiveSmallIntegerField(default=0)
    max_interruptions = models.PositiveSmallIntegerField(default=default_max_interruptions)
    # Id of the Celery task that owns the in-progress state; a redelivery of the same message
    # (worker lost) may take the row over, any other copy may not.
    task_id = models.CharField(max_length=64, blank=True)
    # Set by "re-extract": skip the text cache once and replace it with a fresh result.
    refresh_requested = models.BooleanField(default=False)

    extractor = models.CharField(max_length=40, blank=True)
    remote_file_id = models.CharField(max_length=64, blank=True)
    text = models.ForeignKey(
        ExtractedText, null=True, blank=True, on_delete=models.PROTECT, related_name="documents"
    )

    created_at = models.DateTimeField(_("uploaded"), default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DocumentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        constraints = [
            models.UniqueConstraint(fields=["workspace", "sha256"], name="one_copy_per_workspace"),
            models.CheckConstraint(
                condition=~Q(status=Status.READY) | Q(text__isnull=False),
                name="ready_has_text",
            ),
        ]
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="doc_ws_created"),
            models.Index(fields=["status", "status_changed_at"], name="doc_status_changed"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_final(self) -> bool:
        return self.status in FINAL

    @property
    def token_count(self) -> int | None:
        return self.text.token_count if self.text_id and self.text else None

    @property
    def failure_message(self) -> str:
        """The failure in the current language (see apps.documents.failures)."""
        from .failures import describe

        return describe(self.failure_code, self.failure_params, self.failure_reason)

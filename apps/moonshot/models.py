"""The provider file-store ledger: which remote files exist, whose they are, and the quota.

The provider keeps at most 1000 files, 100 MB each, 10 GB in total per account. The app treats
that store as a transit buffer: a slot (one file, N bytes) is reserved in `FileStoreQuota` with a
single conditional UPDATE *before* an upload starts, so any number of concurrent workers can never
push the account over the cap (PostgreSQL re-checks the WHERE clause on the row a concurrent
UPDATE committed). Each slot has a `RemoteFile` row from reservation until the remote copy is
confirmed deleted, named so the reconcile sweep can map remote files back to rows.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class FileStoreQuota(models.Model):
    """Exactly one row (pk=1): what the ledger holds against the provider's caps."""

    files_used = models.PositiveIntegerField(default=0)
    bytes_used = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("provider file quota")
        verbose_name_plural = _("provider file quota")
        constraints = [
            models.CheckConstraint(condition=Q(files_used__gte=0), name="files_used_not_negative"),
            models.CheckConstraint(condition=Q(bytes_used__gte=0), name="bytes_used_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.files_used} files, {self.bytes_used} bytes"


class RemoteFileState(models.TextChoices):
    RESERVED = "reserved", _("Reserved")  # slot taken, upload not confirmed
    UPLOADED = "uploaded", _("Uploaded")  # exists at the provider
    DELETED = "deleted", _("Deleted")  # confirmed gone; slot released


class RemoteFile(models.Model):
    """One slot in the provider's file store, from reservation to confirmed deletion."""

    owner = models.CharField(
        _("owner"), max_length=80, db_index=True, help_text=_('e.g. "document:42"')
    )
    remote_name = models.CharField(_("remote file name"), max_length=255, unique=True)
    remote_id = models.CharField(_("remote file id"), max_length=64, blank=True, db_index=True)
    size = models.PositiveBigIntegerField(_("bytes"))
    state = models.CharField(
        _("state"), max_length=10, choices=RemoteFileState.choices, default=RemoteFileState.RESERVED
    )
    reserved_at = models.DateTimeField(_("reserved"), default=timezone.now)
    uploaded_at = models.DateTimeField(_("uploaded"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), default=timezone.now, db_index=True)
    deleted_at = models.DateTimeField(_("deleted"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)
    # Set when the remote copy must go (its document was deleted, or the retention policy no
    # longer wants it). The row keeps holding its slot until the provider confirms the delete
    # (or answers 404); failed deletes are retried with backoff (filestore.release_due).
    release_requested_at = models.DateTimeField(_("release requested"), null=True, blank=True)
    release_attempts = models.PositiveSmallIntegerField(_("release attempts"), default=0)
    next_release_at = models.DateTimeField(_("next release attempt"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=255, blank=True)

    class Meta:
        ordering = ["-reserved_at"]
        verbose_name = _("remote file")
        verbose_name_plural = _("remote files")
        indexes = [
            models.Index(fields=["state", "last_used_at"]),
            models.Index(fields=["state", "next_release_at"], name="remotefile_release_due"),
        ]

    def __str__(self) -> str:
        return f"{self.remote_name} ({self.state})"

    @property
    def holds_slot(self) -> bool:
        return self.state != RemoteFileState.DELETED


class ReconcileRun(models.Model):
    """What one reconcile sweep found and did, for the admin dashboard."""

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    trigger = models.CharField(max_length=20, default="schedule")
    remote_count = models.PositiveIntegerField(default=0)
    remote_bytes = models.PositiveBigIntegerField(default=0)
    orphans_deleted = models.PositiveIntegerField(default=0)
    vanished_repaired = models.PositiveIntegerField(default=0)
    reservations_released = models.PositiveIntegerField(default=0)
    # Provider files no ledger row knows (other tools on the key, a lost database), and copies
    # the ledger held that nothing needs any more (deleted documents, "delete" policy).
    orphans_found = models.PositiveIntegerField(default=0)
    copies_released = models.PositiveIntegerField(default=0)
    # What the sweep saw and did, item by item, for the dashboard: {"orphans": [{"id",
    # "filename", "bytes", "age", "action"}], "vanished": [...], "adopted": [...]}.
    findings = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("reconcile run")
        verbose_name_plural = _("reconcile runs")

    def __str__(self) -> str:
        return f"Reconcile {self.started_at:%Y-%m-%d %H:%M}"


class Retention(models.TextChoices):
    DELETE = "delete", _("Delete the remote copy once its text is cached")
    KEEP = "keep", _("Keep remote copies up to a high-water mark, evicting the least recently used")


class FileStorePolicy(models.Model):
    """The retention policy in force (one row, pk=1), editable by admins; settings give defaults."""

    retention = models.CharField(_("retention"), max_length=10, choices=Retention.choices)
    keep_files = models.PositiveIntegerField(_("keep at most (files)"))
    keep_bytes = models.PositiveBigIntegerField(_("keep at most (bytes)"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("file retention policy")
        verbose_name_plural = _("file retention policy")

    def __str__(self) -> str:
        return str(self.get_retention_display())

    @classmethod
    def current(cls) -> FileStorePolicy:
        from django.conf import settings

        policy, _created = cls.objects.get_or_create(
            pk=1,
            defaults={
                "retention": settings.MOONSHOT_RETENTION,
                "keep_files": settings.MOONSHOT_KEEP_FILES,
                "keep_bytes": settings.MOONSHOT_KEEP_BYTES,
            },
        )
        return policy

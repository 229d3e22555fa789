from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from . import errors, filestore
from .client import MoonshotClient, provider_configured
from .models import FileStorePolicy, FileStoreQuota, ReconcileRun, RemoteFile, RemoteFileState


@admin.register(RemoteFile)
class RemoteFileAdmin(admin.ModelAdmin):
    list_display = [
        "remote_name",
        "owner",
        "state",
        "file_size",
        "remote_id",
        "reserved_at",
        "last_used_at",
        "deleted_at",
        "release_requested_at",
        "release_attempts",
        "note",
    ]
    list_filter = ["state", "reserved_at", "deleted_at", "release_requested_at"]
    search_fields = ["remote_name", "remote_id", "owner", "note"]
    date_hierarchy = "reserved_at"
    readonly_fields = [f.name for f in RemoteFile._meta.fields]
    actions = ["delete_remote_copies"]

    @admin.display(description=_("bytes"), ordering="size")
    def file_size(self, slot: RemoteFile) -> str:
        return str(filesizeformat(slot.size))

    @admin.action(description=_("Delete the remote copies and release their slots"))
    def delete_remote_copies(self, request: HttpRequest, queryset: QuerySet[RemoteFile]) -> None:
        if not provider_configured():
            self.message_user(request, _("No Moonshot API key is configured."), messages.ERROR)
            return
        client, done = MoonshotClient(), 0
        for slot in queryset.exclude(state=RemoteFileState.DELETED):
            try:
                filestore.delete_remote(slot, client, note="deleted by an admin")
                done += 1
            except errors.MoonshotError as error:
                self.message_user(request, error.admin_message, messages.ERROR)
        self.message_user(request, _("%(n)d remote copies deleted.") % {"n": done})

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(FileStoreQuota)
class FileStoreQuotaAdmin(admin.ModelAdmin):
    list_display = ["files_used", "bytes_used", "storage", "updated_at"]
    readonly_fields = ["files_used", "bytes_used", "updated_at"]
    actions = ["recount"]

    @admin.display(description=_("storage"), ordering="bytes_used")
    def storage(self, quota: FileStoreQuota) -> str:
        return str(filesizeformat(quota.bytes_used))

    @admin.action(description=_("Recount from the ledger"))
    def recount(self, request: HttpRequest, queryset: QuerySet[FileStoreQuota]) -> None:
        quota = filestore.recount()
        self.message_user(
            request,
            _("The quota now counts %(files)d files, %(bytes)s.")
            % {"files": quota.files_used, "bytes": filesizeformat(quota.bytes_used)},
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(FileStorePolicy)
class FileStorePolicyAdmin(admin.ModelAdmin):
    list_display = ["retention", "keep_files", "keep_bytes", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not FileStorePolicy.objects.exists()  # one row, pk=1

    def save_model(
        self, request: HttpRequest, obj: FileStorePolicy, form: Any, change: bool
    ) -> None:
        """Saved through the one path that records a policy change in the audit log."""
        filestore.save_policy(obj, actor=request.user, request=request)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ReconcileOutcomeFilter(admin.SimpleListFilter):
    title = _("outcome")
    parameter_name = "outcome"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [("ok", _("Succeeded")), ("error", _("Failed")), ("running", _("Running"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "ok":
            return queryset.filter(error="", finished_at__isnull=False)
        if self.value() == "error":
            return queryset.exclude(error="")
        if self.value() == "running":
            return queryset.filter(finished_at__isnull=True)
        return queryset


@admin.register(ReconcileRun)
class ReconcileRunAdmin(admin.ModelAdmin):
    list_display = [
        "started_at",
        "finished_at",
        "trigger",
        "remote_count",
        "remote_bytes",
        "orphans_deleted",
        "vanished_repaired",
        "reservations_released",
        "error",
    ]
    list_filter = ["trigger", ReconcileOutcomeFilter, "started_at"]
    date_hierarchy = "started_at"
    readonly_fields = [f.name for f in ReconcileRun._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

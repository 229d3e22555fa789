from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
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
        "size",
        "remote_id",
        "reserved_at",
        "last_used_at",
    ]
    list_filter = ["state"]
    search_fields = ["remote_name", "remote_id", "owner"]
    readonly_fields = [f.name for f in RemoteFile._meta.fields]
    actions = ["delete_remote_copies"]

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
    list_display = ["files_used", "bytes_used", "updated_at"]
    readonly_fields = ["files_used", "bytes_used", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(FileStorePolicy)
class FileStorePolicyAdmin(admin.ModelAdmin):
    list_display = ["retention", "keep_files", "keep_bytes", "updated_at"]


@admin.register(ReconcileRun)
class ReconcileRunAdmin(admin.ModelAdmin):
    list_display = [
        "started_at",
        "trigger",
        "remote_count",
        "orphans_deleted",
        "vanished_repaired",
        "reservations_released",
        "error",
    ]
    list_filter = ["trigger"]
    readonly_fields = [f.name for f in ReconcileRun._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

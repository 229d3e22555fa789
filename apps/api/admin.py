"""API keys in the Django admin: site admins see every workspace's keys and revoke them. Keys
are made in the workspace settings page (the one place that shows a secret, once)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "workspace",
        "prefix",
        "role",
        "created_by",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = ["role"]
    list_select_related = ["workspace", "created_by"]
    search_fields = ["name", "prefix", "workspace__name"]
    exclude = ["secret_hash"]
    readonly_fields = [
        "workspace",
        "prefix",
        "role",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=_("Revoke the selected keys"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(
            request, ngettext("%(n)d key revoked.", "%(n)d keys revoked.", count) % {"n": count}
        )

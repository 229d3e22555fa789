"""Share links in the Django admin: site admins see every workspace's links and revoke them
(a link a leaving member made, a public link that should not be). Links are made from a
conversation page; the admin shows neither the token nor the snapshot."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .models import ShareLink


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "workspace",
        "visibility",
        "created_by",
        "created_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = ["visibility"]
    list_select_related = ["workspace", "created_by"]
    search_fields = ["title", "workspace__name"]
    exclude = ["token", "snapshot"]
    readonly_fields = [
        "workspace",
        "conversation",
        "created_by",
        "visibility",
        "title",
        "created_at",
        "revoked_at",
    ]
    actions = ["revoke"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ShareLink]:
        return super().get_queryset(request).defer("snapshot")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=_("Revoke the selected links"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ShareLink]) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(
            request,
            ngettext("%(n)d link revoked.", "%(n)d links revoked.", count) % {"n": count},
        )

"""Workspaces, memberships and invitations in the Django admin, with usage against the limits
site admins set (editable in the list)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import limits
from .models import Invitation, Membership, Workspace


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class HasLimitsFilter(admin.SimpleListFilter):
    title = _("limits")
    parameter_name = "limited"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [("yes", _("Has a limit")), ("no", _("Unlimited"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        limited = (
            Q(max_documents__isnull=False)
            | Q(max_bytes__isnull=False)
            | Q(max_tokens_per_day__isnull=False)
        )
        if self.value() == "yes":
            return queryset.filter(limited)
        if self.value() == "no":
            return queryset.exclude(limited)
        return queryset


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "is_personal",
        "members",
        "documents",
        "storage",
        "max_documents",
        "max_bytes",
        "max_tokens_per_day",
        "created_at",
    ]
    list_editable = ["max_documents", "max_bytes", "max_tokens_per_day"]
    list_filter = ["is_personal", HasLimitsFilter, "created_at"]
    search_fields = ["name", "slug", "memberships__user__email"]
    readonly_fields = ["created_at", "created_by"]
    fieldsets = (
        (None, {"fields": ("name", "slug", "is_personal", "created_by", "created_at")}),
        (_("Limits"), {"fields": ("max_documents", "max_bytes", "max_tokens_per_day")}),
    )
    inlines = [MembershipInline]
    actions = ["remove_limits"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Workspace]:
        # Members by subquery, documents by the one join: two joins would multiply the sums.
        members = (
            Membership.objects.filter(workspace=OuterRef("pk"))
            .order_by()
            .values("workspace")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_members=Coalesce(Subquery(members), 0, output_field=IntegerField()),
                n_documents=Count("documents"),
                n_bytes=Coalesce(Sum("documents__size"), 0),
            )
        )

    @admin.display(description=_("members"), ordering="n_members")
    def members(self, workspace: Workspace) -> int:
        return workspace.n_members  # type: ignore[attr-defined]

    @admin.display(description=_("documents"), ordering="n_documents")
    def documents(self, workspace: Workspace) -> int:
        return workspace.n_documents  # type: ignore[attr-defined]

    @admin.display(description=_("storage"), ordering="n_bytes")
    def storage(self, workspace: Workspace) -> str:
        return str(filesizeformat(workspace.n_bytes))  # type: ignore[attr-defined]

    def save_model(self, request: HttpRequest, obj: Workspace, form: Any, change: bool) -> None:
        """Saved from the change form or the editable list: a change of limits is recorded
        in the workspace's audit log, as from the dashboard."""
        stored = Workspace.objects.filter(pk=obj.pk).first() if change else None
        super().save_model(request, obj, form, change)
        if stored is not None:
            limits.record_change(obj, limits.limits_of(stored), actor=request.user, request=request)

    @admin.action(description=_("Remove all limits"))
    def remove_limits(self, request: HttpRequest, queryset: QuerySet[Workspace]) -> None:
        changed = 0
        unlimited = dict.fromkeys(limits.LIMIT_FIELDS)
        with transaction.atomic():
            # The admin's queryset is annotated (GROUP BY): lock the plain rows instead.
            chosen = Workspace.objects.filter(pk__in=list(queryset.values_list("pk", flat=True)))
            for workspace in chosen.select_for_update():
                before = limits.limits_of(workspace)
                if before == unlimited:
                    continue
                Workspace.objects.filter(pk=workspace.pk).update(**unlimited)
                for name in limits.LIMIT_FIELDS:
                    setattr(workspace, name, None)
                limits.record_change(workspace, before, actor=request.user, request=request)
                changed += 1
        self.message_user(
            request,
            ngettext(
                "Limits removed from %(n)d workspace.",
                "Limits removed from %(n)d workspaces.",
                changed,
            )
            % {"n": changed},
        )


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "workspace", "role", "joined_at"]
    list_filter = ["role", "workspace__is_personal"]
    list_select_related = ["user", "workspace"]
    search_fields = ["user__email", "user__display_name", "workspace__name"]
    autocomplete_fields = ["user", "workspace"]


class InvitationStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [
            ("pending", _("Pending")),
            ("accepted", _("Accepted")),
            ("revoked", _("Revoked")),
            ("expired", _("Expired")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        open_ = Q(accepted_at__isnull=True, revoked_at__isnull=True)
        return {
            "pending": lambda: queryset.filter(open_, expires_at__gt=now),
            "accepted": lambda: queryset.filter(accepted_at__isnull=False),
            "revoked": lambda: queryset.filter(revoked_at__isnull=False),
            "expired": lambda: queryset.filter(open_, expires_at__lte=now),
        }.get(self.value() or "", lambda: queryset)()


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = [
        "workspace",
        "email",
        "role",
        "state",
        "created_by",
        "created_at",
        "expires_at",
        "accepted_by",
    ]
    list_filter = [InvitationStateFilter, "role"]
    list_select_related = ["workspace", "created_by", "accepted_by"]
    search_fields = ["email", "workspace__name"]
    exclude = ["token_hash"]
    readonly_fields = ["created_by", "created_at", "accepted_at", "accepted_by", "revoked_at"]
    actions = ["revoke"]

    @admin.display(description=_("state"))
    def state(self, invitation: Invitation) -> str:
        if invitation.accepted_at:
            return str(_("Accepted"))
        if invitation.revoked_at:
            return str(_("Revoked"))
        if invitation.expires_at <= timezone.now():
            return str(_("Expired"))
        return str(_("Pending"))

    @admin.action(description=_("Revoke the pending invitations"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> None:
        revoked = queryset.filter(
            accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        ).update(revoked_at=timezone.now())
        self.message_user(
            request,
            ngettext("%(n)d invitation revoked.", "%(n)d invitations revoked.", revoked)
            % {"n": revoked},
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a link needs its token, which only the members page shows once

from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .models import User
from .requests import AuthenticatedRequest


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = [
        "email",
        "display_name",
        "workspaces",
        "is_staff",
        "is_superuser",
        "is_active",
        "date_joined",
        "last_login",
    ]
    list_filter = ["is_staff", "is_superuser", "is_active", "date_joined", "last_login"]
    search_fields = ["email", "display_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Profile"), {"fields": ("display_name",)}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    actions = ["deactivate", "activate"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).annotate(n_workspaces=Count("memberships"))

    @admin.display(description=_("workspaces"), ordering="n_workspaces")
    def workspaces(self, user: User) -> int:
        return user.n_workspaces  # type: ignore[attr-defined]

    @admin.action(description=_("Deactivate the selected users (they can no longer log in)"))
    def deactivate(self, request: AuthenticatedRequest, queryset: QuerySet[User]) -> None:
        changed = queryset.exclude(pk=request.user.pk).update(is_active=False)
        if queryset.filter(pk=request.user.pk).exists():
            self.message_user(request, _("You cannot deactivate yourself."), messages.WARNING)
        self.message_user(
            request,
            ngettext("%(n)d user deactivated.", "%(n)d users deactivated.", changed)
            % {"n": changed},
        )

    @admin.action(description=_("Activate the selected users"))
    def activate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        changed = queryset.update(is_active=True)
        self.message_user(
            request,
            ngettext("%(n)d user activated.", "%(n)d users activated.", changed) % {"n": changed},
        )


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin):
    list_display = ["name", "members", "permission_count"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Group]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_users=Count("user", distinct=True),
                n_permissions=Count("permissions", distinct=True),
            )
        )

    @admin.display(description=_("members"), ordering="n_users")
    def members(self, group: Group) -> int:
        return group.n_users  # type: ignore[attr-defined]

    @admin.display(description=_("permissions"), ordering="n_permissions")
    def permission_count(self, group: Group) -> int:
        return group.n_permissions  # type: ignore[attr-defined]

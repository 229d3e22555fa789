"""Reads for workspaces. Every query here is scoped by the user's memberships."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.accounts.models import User

from .models import Invitation, Membership, Workspace


def workspaces_for(user: User) -> QuerySet[Workspace]:
    return Workspace.objects.filter(memberships__user=user).order_by("-is_personal", "name")


def memberships_for(user: User) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user)
        .select_related("workspace")
        .order_by("-workspace__is_personal", "workspace__name")
    )


def members_of(workspace: Workspace) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(workspace=workspace).select_related("user").order_by("joined_at")
    )


def pending_invitations(workspace: Workspace) -> list[Invitation]:
    return [i for i in Invitation.objects.filter(workspace=workspace) if i.is_pending]

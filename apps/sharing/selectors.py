"""Reads for share links: a workspace's list (scoped by role), one link of a workspace, and the
link a token names."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.workspaces.models import Membership

from .models import ShareLink


def links_for(membership: Membership) -> QuerySet[ShareLink]:
    """The links of the member's workspace they may manage: all for an admin, else their own.
    Newest first; the snapshot (the bulk of a row) is not loaded."""
    qs = ShareLink.objects.filter(workspace_id=membership.workspace_id)
    if not membership.can_manage:
        qs = qs.filter(created_by_id=membership.user_id)
    return qs.select_related("created_by").defer("snapshot").order_by("-created_at", "-pk")


def link_in(membership: Membership, link_id: int) -> ShareLink | None:
    """A link of the member's workspace by id (any creator: the service checks who may
    revoke it), or None: another workspace's link does not exist from here."""
    return ShareLink.objects.filter(workspace_id=membership.workspace_id, pk=link_id).first()


def link_by_token(token: str) -> ShareLink | None:
    """The link this token names, revoked and expired ones included (they get their own page),
    its workspace loaded; None for an unknown token."""
    if not token or len(token) > 64:
        return None
    return ShareLink.objects.select_related("workspace").filter(token=token).first()


def is_member(link: ShareLink, user_id: int) -> bool:
    """Whether this user belongs to the link's workspace (any role)."""
    return Membership.objects.filter(workspace_id=link.workspace_id, user_id=user_id).exists()

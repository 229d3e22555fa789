"""Writes for share links: make one (a snapshot of the conversation now) and revoke one.

Who may share follows who may change a conversation (apps.chat.services.may_change): its
creator and the workspace's admins. Sharing puts the conversation in front of people who
could not read it before (anyone with a public link), so it is the creator's call, not every
reader's; a viewer shares the conversations they started. Revoking is for the link's creator
and the workspace's admins. Both are recorded in the audit log (never the token: the row's id
names the link).
"""

from __future__ import annotations

import secrets
from datetime import datetime

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit import services as audit
from apps.audit.models import Action
from apps.chat.models import Conversation
from apps.chat.services import may_change
from apps.workspaces.models import Membership

from . import snapshot
from .models import ShareLink, Visibility


class SharingError(Exception):
    """A rule about share links was broken; str(error) is a message for the user."""


class NotAllowed(SharingError):
    """The member may see this but not do this (the view answers 403)."""


def new_token() -> str:
    """43 URL-safe characters: 256 random bits, nothing to guess or enumerate."""
    return secrets.token_urlsafe(32)


@transaction.atomic
def create_link(
    *,
    actor: Membership,
    conversation: Conversation,
    visibility: str = Visibility.WORKSPACE,
    expires_at: datetime | None = None,
    request: HttpRequest | None = None,
) -> ShareLink:
    """A link to a snapshot of `conversation` as it is now.

    Raises NotAllowed when the actor may not change the conversation; SharingError for a
    conversation of another workspace, an unknown visibility, an expiry in the past, or a
    conversation with nothing to show yet.
    """
    if conversation.workspace_id != actor.workspace_id:
        raise SharingError(_("No such conversation."))
    if not may_change(conversation, actor):
        raise NotAllowed(
            _("Only the person who started this conversation, or an admin, can share it.")
        )
    if visibility not in Visibility.values:
        raise SharingError(_("Choose who can open the link."))
    if expires_at is not None and expires_at <= timezone.now():
        raise SharingError(_("The expiry must be in the future."))
    frozen = snapshot.take(conversation)
    if not frozen["messages"]:
        raise SharingError(_("This conversation has no messages to share yet."))
    link = ShareLink.objects.create(
        workspace_id=actor.workspace_id,
        conversation=conversation,
        created_by=actor.user,
        token=new_token(),
        visibility=visibility,
        title=frozen["title"][:200],
        snapshot=frozen,
        expires_at=expires_at,
    )
    audit.record(
        Action.SHARE_LINK_CREATED,
        actor=actor.user,
        workspace=actor.workspace,
        target=link,
        target_label=link.title,
        request=request,
        details={
            "visibility": visibility,
            "expires_at": expires_at,
            "conversation_id": conversation.pk,
        },
    )
    return link


def may_revoke(link: ShareLink, actor: Membership) -> bool:
    return actor.can_manage or (
        link.created_by_id is not None and link.created_by_id == actor.user_id
    )


@transaction.atomic
def revoke_link(*, actor: Membership, link: ShareLink, request: HttpRequest | None = None) -> None:
    """From now on the link shows a "revoked" page (410). Revoking twice changes nothing.

    Raises SharingError for a link of another workspace; NotAllowed for a member revoking
    someone else's link.
    """
    if link.workspace_id != actor.workspace_id:
        raise SharingError(_("No such link."))
    if not may_revoke(link, actor):
        raise NotAllowed(_("Only the person who made this link, or an admin, can revoke it."))
    now = timezone.now()
    if ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(revoked_at=now):
        link.revoked_at = now
        audit.record(
            Action.SHARE_LINK_REVOKED,
            actor=actor.user,
            workspace=actor.workspace,
            target=link,
            target_label=link.title,
            request=request,
            details={"visibility": link.visibility},
        )


def revoke_links_of_departing_member(*, instance: Membership, **_signal: object) -> int:
    """A member removed, leaving, or deleted with their account: their live links in that
    workspace are revoked (receiver of Membership's pre_delete, which comes before the user's
    deletion clears ``created_by``). A link outlives neither the person's access nor the
    authority they shared it with. Returns how many were revoked."""
    now = timezone.now()
    links = list(
        ShareLink.objects.filter(
            workspace_id=instance.workspace_id,
            created_by_id=instance.user_id,
            revoked_at__isnull=True,
        )
    )
    ShareLink.objects.filter(pk__in=[link.pk for link in links]).update(revoked_at=now)
    for link in links:
        audit.record(
            Action.SHARE_LINK_REVOKED,
            workspace=instance.workspace,
            target=link,
            target_label=link.title,
            details={"visibility": link.visibility, "reason": "member_left"},
        )
    return len(links)

"""Writes for workspaces: create, invite, accept, change roles, remove, leave.

Every function takes the acting user and checks the rule it enforces, so a view cannot forget one.
Rule violations raise WorkspaceError with a message fit to show the user. Invitations, role
changes, removals and renames are recorded in the audit log (``request``, when given, says from
where), inside the change's transaction where it has one.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.audit import services as audit
from apps.audit.models import Action

from .models import Invitation, Membership, Role, Workspace

logger = logging.getLogger(__name__)


class WorkspaceError(Exception):
    """A rule about workspaces was broken; str(error) is a message for the user."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _unique_slug(name: str) -> str:
    base = (slugify(name, allow_unicode=False) or "workspace")[:70]
    slug = base
    while Workspace.objects.filter(slug=slug).exists():
        slug = f"{base}-{secrets.token_hex(3)}"
    return slug


@transaction.atomic
def create_workspace(*, owner: User, name: str, personal: bool = False) -> Workspace:
    name = name.strip()
    if not name:
        raise WorkspaceError(_("A workspace needs a name."))
    for _attempt in range(5):
        try:
            with transaction.atomic():
                workspace = Workspace.objects.create(
                    name=name[:80], slug=_unique_slug(name), is_personal=personal, created_by=owner
                )
            break
        except IntegrityError:  # two creates raced for one slug; pick another
            continue
    else:
        raise WorkspaceError(_("Could not create the workspace; please try again."))
    Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
    return workspace


def create_personal_workspace(*, user: User, **_signal: object) -> Workspace:
    """The workspace every new account starts with (receiver of ``user_registered``)."""
    return create_workspace(
        owner=user, name=_("%(name)s's workspace") % {"name": user.label}, personal=True
    )


def auto_join(*, user: User, verified_emails: list[str], **_signal: object) -> list[Membership]:
    """Memberships ``DOCQA_SSO_AUTO_JOIN`` gives for these verified e-mails' domains (receiver
    of ``first_single_sign_on``). An existing membership keeps its role.

    What can fail: a rule naming a workspace that does not exist is skipped with a warning.
    """
    rules = settings.DOCQA_SSO_AUTO_JOIN
    joined = []
    for email in verified_emails:
        rule = rules.get(email.rpartition("@")[2].lower())
        if rule is None:
            continue
        slug, role = rule
        workspace = Workspace.objects.filter(slug=slug).first()
        if workspace is None:
            logger.warning("DOCQA_SSO_AUTO_JOIN names workspace %r, which does not exist.", slug)
            continue
        membership, created = Membership.objects.get_or_create(
            workspace=workspace, user=user, defaults={"role": Role(role)}
        )
        if created:
            audit.record(
                Action.MEMBER_AUTO_JOINED,
                actor=user,
                workspace=workspace,
                target=membership,
                target_label=user.email,
                details={"role": membership.role, "email": email},
            )
        joined.append(membership)
    return joined


@transaction.atomic
def rename_workspace(
    *, actor: Membership, name: str, request: HttpRequest | None = None
) -> Workspace:
    if not actor.can_manage:
        raise WorkspaceError(_("Only owners and admins can rename the workspace."))
    name = name.strip()
    if not name:
        raise WorkspaceError(_("A workspace needs a name."))
    workspace = actor.workspace
    old = workspace.name
    workspace.name = name[:80]
    workspace.save(update_fields=["name"])
    if old != workspace.name:
        audit.record(
            Action.WORKSPACE_RENAMED,
            actor=actor.user,
            workspace=workspace,
            target=workspace,
            request=request,
            details={"from": old, "to": workspace.name},
        )
    return workspace


def _grantable(actor: Membership, role: Role) -> bool:
    """Admins may grant up to admin; only owners may make owners."""
    if actor.role_enum == Role.OWNER:
        return True
    return actor.can_manage and role != Role.OWNER


def create_invitation(
    *,
    actor: Membership,
    role: str,
    email: str = "",
    base_url: str = "",
    request: HttpRequest | None = None,
) -> tuple[Invitation, str]:
    """Create a single-use invitation; return it and the raw token (shown once, never stored).

    With an e-mail address the link is also mailed. Fails when the actor cannot manage members,
    may not grant the role, or the address already belongs to a member.
    """
    if not actor.can_manage:
        raise WorkspaceError(_("Only owners and admins can invite people."))
    try:
        role_enum = Role(role)
    except ValueError as exc:
        raise WorkspaceError(_("Unknown role.")) from exc
    if not _grantable(actor, role_enum):
        raise WorkspaceError(_("Only an owner can invite another owner."))
    email = email.strip().lower()
    if email and Membership.objects.filter(workspace=actor.workspace, user__email=email).exists():
        raise WorkspaceError(_("%(email)s is already a member.") % {"email": email})
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        workspace=actor.workspace,
        email=email,
        role=role_enum,
        token_hash=hash_token(token),
        created_by=actor.user,
        expires_at=timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS),
    )
    audit.record(
        Action.INVITATION_CREATED,
        actor=actor.user,
        workspace=actor.workspace,
        target=invitation,
        request=request,
        details={"role": role_enum.value, "email": email, "expires_at": invitation.expires_at},
    )
    if email:
        link = f"{base_url}/invitations/{token}/"
        send_mail(
            subject=_("You are invited to %(workspace)s on DocQA")
            % {"workspace": actor.workspace.name},
            message=_(
                "%(inviter)s invited you to the workspace %(workspace)s.\n\n"
                "Open this link to join (valid for %(days)s days, usable once):\n%(link)s\n"
            )
            % {
                "inviter": actor.user.label,
                "workspace": actor.workspace.name,
                "days": settings.INVITATION_TTL_DAYS,
                "link": link,
            },
            from_email=None,
            recipient_list=[email],
        )
    return invitation, token


def find_invitation(token: str) -> Invitation:
    """Return a usable invitation for a raw token, or raise WorkspaceError saying why not."""
    invitation = (
        Invitation.objects.select_related("workspace").filter(token_hash=hash_token(token)).first()
    )
    if invitation is None or invitation.revoked_at is not None:
        raise WorkspaceError(_("This invitation link is not valid."))
    if invitation.accepted_at is not None:
        raise WorkspaceError(_("This invitation has already been used."))
    if invitation.expires_at <= timezone.now():
        raise WorkspaceError(_("This invitation has expired. Ask for a new one."))
    return invitation


@transaction.atomic
def accept_invitation(*, user: User, token: str, request: HttpRequest | None = None) -> Membership:
    """Join the workspace; the token is spent even when the user was already a member."""
    invitation = find_invitation(token)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at is not None:  # lost a race with another accept
        raise WorkspaceError(_("This invitation has already been used."))
    if invitation.email and invitation.email != user.email.lower():
        raise WorkspaceError(
            _(
                "This invitation was sent to another e-mail address. "
                "Log in as that user to accept it."
            )
        )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    membership, created = Membership.objects.get_or_create(
        workspace=invitation.workspace, user=user, defaults={"role": invitation.role}
    )
    audit.record(
        Action.INVITATION_ACCEPTED,
        actor=user,
        workspace=invitation.workspace,
        target=invitation,
        request=request,
        details={"role": membership.role, "joined": created},
    )
    return membership


@transaction.atomic
def revoke_invitation(
    *, actor: Membership, invitation: Invitation, request: HttpRequest | None = None
) -> None:
    if not actor.can_manage or invitation.workspace_id != actor.workspace_id:
        raise WorkspaceError(_("Only owners and admins can revoke invitations."))
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit.record(
        Action.INVITATION_REVOKED,
        actor=actor.user,
        workspace=actor.workspace,
        target=invitation,
        request=request,
        details={"role": invitation.role},
    )


def _owner_count(workspace: Workspace) -> int:
    return Membership.objects.filter(workspace=workspace, role=Role.OWNER).count()


@transaction.atomic
def change_role(
    *, actor: Membership, target: Membership, role: str, request: HttpRequest | None = None
) -> Membership:
    """Change a member's role. The last owner cannot be demoted; admins cannot touch owners."""
    try:
        new_role = Role(role)
    except ValueError as exc:
        raise WorkspaceError(_("Unknown role.")) from exc
    if not actor.can_manage or target.workspace_id != actor.workspace_id:
        raise WorkspaceError(_("Only owners and admins can change roles."))
    # Lock the workspace's owner rows so two demotions cannot both pass the last-owner check.
    list(Membership.objects.select_for_update().filter(workspace=target.workspace, role=Role.OWNER))
    target.refresh_from_db()
    if target.role_enum == Role.OWNER and actor.role_enum != Role.OWNER:
        raise WorkspaceError(_("Only an owner can change another owner's role."))
    if not _grantable(actor, new_role):
        raise WorkspaceError(_("Only an owner can make someone an owner."))
    if (
        target.role_enum == Role.OWNER
        and new_role != Role.OWNER
        and _owner_count(target.workspace) == 1
    ):
        raise WorkspaceError(
            _("The last owner cannot be demoted. Make someone else an owner first.")
        )
    old = target.role
    target.role = new_role
    target.save(update_fields=["role"])
    if old != new_role:
        audit.record(
            Action.MEMBER_ROLE_CHANGED,
            actor=actor.user,
            workspace=actor.workspace,
            target=target,
            target_label=target.user.email,
            request=request,
            details={"from": old, "to": new_role.value},
        )
    return target


@transaction.atomic
def remove_member(
    *, actor: Membership, target: Membership, request: HttpRequest | None = None
) -> None:
    if target.pk == actor.pk:
        leave_workspace(membership=actor, request=request)
        return
    if not actor.can_manage or target.workspace_id != actor.workspace_id:
        raise WorkspaceError(_("Only owners and admins can remove members."))
    if target.role_enum == Role.OWNER and actor.role_enum != Role.OWNER:
        raise WorkspaceError(_("Only an owner can remove another owner."))
    audit.record(
        Action.MEMBER_REMOVED,
        actor=actor.user,
        workspace=actor.workspace,
        target=target,
        target_label=target.user.email,
        request=request,
        details={"role": target.role, "user_id": target.user_id},
    )
    target.delete()


@transaction.atomic
def leave_workspace(*, membership: Membership, request: HttpRequest | None = None) -> None:
    list(
        Membership.objects.select_for_update().filter(
            workspace=membership.workspace, role=Role.OWNER
        )
    )
    if membership.role_enum == Role.OWNER and _owner_count(membership.workspace) == 1:
        raise WorkspaceError(
            _("You are the last owner. Make someone else an owner before you leave.")
        )
    audit.record(
        Action.MEMBER_LEFT,
        actor=membership.user,
        workspace=membership.workspace,
        target=membership,
        target_label=membership.user.email,
        request=request,
        details={"role": membership.role},
    )
    membership.delete()

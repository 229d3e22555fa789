"""AuditEvent: one row per recorded action, append-only in Postgres.

Migration 0002 adds a trigger that refuses UPDATE and DELETE. Two exceptions: the foreign keys
to the actor and the workspace may be set to NULL (Django's SET_NULL when a user or workspace
is deleted; the frozen labels keep saying who and where), and the retention purge deletes
inside a transaction that ran ``SET LOCAL docqa.audit_purge = 'on'`` (services.purge_expired).
TRUNCATE is not a row operation and is not refused: only the database owner can run it, and
the test suite flushes tables with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django.utils.functional import Promise


class Action(models.TextChoices):
    """Stable dotted codes (stored, exported, filtered on: never rename one); the part before
    the dot is the action's group."""

    LOGIN = "auth.login", _("Signed in")
    LOGIN_FAILED = "auth.login_failed", _("Sign-in failed")
    LOGOUT = "auth.logout", _("Signed out")
    DOCUMENT_UPLOADED = "document.uploaded", _("Document uploaded")
    DOCUMENT_DELETED = "document.deleted", _("Document deleted")
    DOCUMENT_REEXTRACTED = "document.reextracted", _("Document queued for extraction again")
    INVITATION_CREATED = "invitation.created", _("Invitation created")
    INVITATION_ACCEPTED = "invitation.accepted", _("Invitation accepted")
    INVITATION_REVOKED = "invitation.revoked", _("Invitation revoked")
    MEMBER_ROLE_CHANGED = "member.role_changed", _("Role changed")
    MEMBER_REMOVED = "member.removed", _("Member removed")
    MEMBER_LEFT = "member.left", _("Member left")
    MEMBER_AUTO_JOINED = "member.auto_joined", _("Joined by e-mail domain (single sign-on)")
    API_KEY_CREATED = "api_key.created", _("API key created")
    API_KEY_REVOKED = "api_key.revoked", _("API key revoked")
    CONVERSATION_EXPORTED = "export.conversation", _("Conversation exported")
    WORKSPACE_EXPORTED = "export.workspace", _("Workspace exported")
    SHARE_LINK_CREATED = "share_link.created", _("Share link created")
    SHARE_LINK_REVOKED = "share_link.revoked", _("Share link revoked")
    WORKSPACE_RENAMED = "workspace.renamed", _("Workspace renamed")
    WORKSPACE_LIMITS_CHANGED = "workspace.limits_changed", _("Workspace limits changed")
    POLICY_CHANGED = "filestore.policy_changed", _("Retention policy changed")
    EVICTION_REQUESTED = "filestore.eviction_requested", _("Eviction requested")
    EVICTED = "filestore.evicted", _("Provider copies evicted")
    RECONCILE_REQUESTED = "filestore.reconcile_requested", _("Reconcile requested")
    RECONCILED = "filestore.reconciled", _("Reconcile run")
    AUDIT_PURGED = "audit.purged", _("Old audit events purged")


GROUPS: dict[str, Promise] = {
    "auth": _("Sign-in"),
    "document": _("Documents"),
    "invitation": _("Invitations"),
    "member": _("Members"),
    "api_key": _("API keys"),
    "export": _("Exports"),
    "share_link": _("Share links"),
    "workspace": _("Workspace settings"),
    "filestore": _("Provider file store"),
    "audit": _("Audit log"),
}


class AuditEvent(models.Model):
    at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Frozen at the time of the event: still there after the user or workspace is deleted.
    actor_label = models.CharField(_("actor"), max_length=254, blank=True)
    workspace = models.ForeignKey(
        "workspaces.Workspace", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    workspace_slug = models.CharField(max_length=90, blank=True)
    workspace_name = models.CharField(_("workspace"), max_length=80, blank=True)
    action = models.CharField(_("action"), max_length=64, choices=Action.choices)
    target_type = models.CharField(max_length=40, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(_("target"), max_length=200, blank=True)
    client_address = models.CharField(_("address"), max_length=45, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["workspace", "-at"], name="audit_workspace_at"),
            models.Index(fields=["action", "-at"], name="audit_action_at"),
        ]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} by {self.actor_label or '-'}"

    @property
    def group(self) -> str:
        return self.action.partition(".")[0]

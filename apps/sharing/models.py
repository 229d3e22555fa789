"""Share links: a read-only snapshot of a conversation behind a long random token.

The snapshot (`snapshot`, see apps.sharing.snapshot) is a copy of the conversation's questions
and answers taken when the link was made: the link shows the same thing however the
conversation goes on, and after it is deleted (`conversation` is then set to NULL).

The token is stored as it is, under a unique index, not hashed as API keys and invitations are.
A hash guards what a token opens against someone who can read the table; here the row holds the
snapshot itself, so such a reader has everything the link would show. Keeping the token lets
the "Shared links" page give the link again (to copy it) long after it was made.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.workspaces.models import Workspace


class Visibility(models.TextChoices):
    WORKSPACE = "workspace", _("Members of this workspace")
    PUBLIC = "public", _("Anyone with the link")


class ShareLink(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="share_links")
    conversation = models.ForeignKey(
        "chat.Conversation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    token = models.CharField(max_length=64, unique=True)
    visibility = models.CharField(
        _("who can open it"),
        max_length=10,
        choices=Visibility.choices,
        default=Visibility.WORKSPACE,
    )
    title = models.CharField(_("title"), max_length=200, blank=True)
    snapshot = models.JSONField(default=dict)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("shared link")
        verbose_name_plural = _("shared links")
        indexes = [models.Index(fields=["workspace", "-created_at"])]

    def __str__(self) -> str:
        return self.title or str(_("Shared conversation"))

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return not self.is_revoked and not self.is_expired

    @property
    def is_public(self) -> bool:
        return self.visibility == Visibility.PUBLIC

"""Workspace API keys, and the answers remembered for Idempotency-Key retries.

A key is a door into one workspace with a role (viewer or member): a program holding it acts as
a member of that workspace, in the name of the admin who made it. Only a SHA-256 hash of the
secret is stored (the secret is 256 random bits, so a fast hash is the right one: nothing to
brute-force); `prefix` is the start of the secret, shown so people can tell keys apart.
"""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.workspaces.models import Role, Workspace

KEY_ROLES = [(Role.VIEWER.value, Role.VIEWER.label), (Role.MEMBER.value, Role.MEMBER.label)]


class ApiKey(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(_("name"), max_length=80)
    role = models.CharField(_("role"), max_length=10, choices=KEY_ROLES, default=Role.MEMBER)
    prefix = models.CharField(_("prefix"), max_length=16)
    secret_hash = models.CharField(max_length=64, unique=True)
    # The key acts in its creator's name; it goes with the creator's account.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class IdempotentRequest(models.Model):
    """The first outcome of a request sent with an Idempotency-Key, kept for a day.

    The row is claimed before the work starts (unique per workspace, route and key), so two
    copies of one request sent at once do the work once: the second is told to retry.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    route = models.CharField(max_length=40)
    key = models.CharField(max_length=200)
    status_code = models.PositiveSmallIntegerField(null=True)  # None while the first one runs
    body = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "route", "key"], name="one_outcome_per_idempotency_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.route} {self.key}"

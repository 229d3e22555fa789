"""Conversations and their messages. Every row carries its workspace for scoping and reporting."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.workspaces.models import Workspace


class Conversation(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="conversations")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    title = models.CharField(_("title"), max_length=200, blank=True)
    # "auto" picks the smallest configured window that fits; otherwise a pinned model id.
    model_choice = models.CharField(_("model"), max_length=60, default="auto")
    # All ready documents of the workspace, or only `documents`.
    scope_all = models.BooleanField(_("all documents"), default=True)
    documents = models.ManyToManyField("documents.Document", blank=True, related_name="+")
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-updated_at"]
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        indexes = [models.Index(fields=["workspace", "-updated_at"])]

    def __str__(self) -> str:
        return self.title or str(_("New conversation"))


class Role(models.TextChoices):
    USER = "user", _("User")
    ASSISTANT = "assistant", _("Assistant")


class Status(models.TextChoices):
    COMPLETE = "complete", _("Complete")
    STREAMING = "streaming", _("Streaming")
    STOPPED = "stopped", _("Stopped")
    FAILED = "failed", _("Failed")
    # Its stream's process died (crash, SIGKILL, a deploy that did not drain): the text it had
    # streamed by its last lease renewal is kept, and the user gets a retry.
    INTERRUPTED = "interrupted", _("Interrupted")


class Message(models.Model):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    role = models.CharField(_("role"), max_length=10, choices=Role.choices)
    content = models.TextField(_("content"), blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.COMPLETE
    )
    error_message = models.CharField(_("error"), max_length=500, blank=True)
    retryable = models.BooleanField(default=False)
    model = models.CharField(_("model"), max_length=60, blank=True)
    offline = models.BooleanField(_("offline answer"), default=False)
    prompt_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost_cny = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(0))
    # [{"id": 3, "name": "plan.pdf", "narrowed": false, "cited": true}, ...]: what the answer
    # was built from, those it cited or quoted first (`cited` is absent on answers saved
    # before it was recorded: they list every source as used).
    sources = models.JSONField(default=list, blank=True)
    # [{"quote": "…", "document": "plan.pdf", "found": true}, ...]: see apps.chat.quotes.
    quotes = models.JSONField(_("quotations checked"), default=list, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # While STREAMING: the stream's process renews this every CHAT_STREAM_LEASE_RENEW_SECONDS
    # (saving the text so far with it). Past it, that process is gone, and the sweep marks the
    # answer INTERRUPTED (services.interrupt_orphaned_answers).
    lease_until = models.DateTimeField(_("stream lease until"), null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        indexes = [
            models.Index(fields=["workspace", "created_at"]),
            # The sweep looks only at the few answers streaming right now.
            models.Index(
                fields=["lease_until"],
                condition=models.Q(status="streaming"),
                name="chat_message_streaming_lease",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"

    @property
    def cited_sources(self) -> list[dict]:
        """The documents the answer cited or quoted."""
        return [s for s in self.sources if s.get("cited", True)]

    @property
    def other_sources(self) -> list[dict]:
        """The documents that were in scope but that the answer did not use."""
        return [s for s in self.sources if not s.get("cited", True)]

    @property
    def missing_quotes(self) -> list[dict]:
        """The answer's quotations that the documents do not contain."""
        return [q for q in self.quotes if not q.get("found")]

"""Reads for chat, always scoped to one workspace."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from apps.documents.models import Document, Status as DocumentStatus
from apps.workspaces.models import Workspace

from .context import DocumentText
from .models import Conversation, Message


def conversations(workspace: Workspace, query: str = "") -> QuerySet[Conversation]:
    """Newest first; `query` matches the title or any message's text."""
    qs = Conversation.objects.filter(workspace=workspace)
    query = query.strip()
    if query:
        matching = Message.objects.filter(workspace=workspace, content__icontains=query).values(
            "conversation_id"
        )
        qs = qs.filter(Q(title__icontains=query) | Q(pk__in=matching))
    return qs.order_by("-updated_at")


def conversation_messages(conversation: Conversation) -> QuerySet[Message]:
    return conversation.messages.order_by("created_at", "pk")


def ready_documents(workspace: Workspace) -> QuerySet[Document]:
    return (
        Document.objects.filter(workspace=workspace, status=DocumentStatus.READY)
        .exclude(text__isnull=True)
        .select_related("text")
        .order_by("pk")
    )


def _as_text(document: Document) -> DocumentText:
    extracted = document.text
    return DocumentText(
        id=document.pk,
        name=document.name,
        text=extracted.text,
        token_count=extracted.token_count,
        content_hash=extracted.sha256,
    )


def scope_documents(conversation: Conversation) -> list[DocumentText]:
    """The ready documents this conversation answers from, in a stable order (by id)."""
    qs = ready_documents(conversation.workspace)
    if not conversation.scope_all:
        qs = qs.filter(pk__in=conversation.documents.values("pk"))
    return [_as_text(d) for d in qs]

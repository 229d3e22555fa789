"""Reads for chat, always scoped to one workspace."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet
from django.urls import reverse

from apps.documents.models import Document
from apps.documents.models import Status as DocumentStatus
from apps.documents.text_cache import text_cache
from apps.workspaces.models import Membership, Workspace

from .context import DocumentText
from .models import Conversation, Message
from .prompts import citation_label


def conversations(
    workspace: Workspace, query: str = "", *, changeable_by: Membership | None = None
) -> QuerySet[Conversation]:
    """Newest first; `query` matches the title or any message's text. With `changeable_by`,
    only those that member may ask in (theirs, or all for an admin)."""
    qs = Conversation.objects.filter(workspace=workspace)
    if changeable_by is not None and not changeable_by.can_manage:
        qs = qs.filter(created_by_id=changeable_by.user_id)
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


def scope_documents(conversation: Conversation) -> list[DocumentText]:
    """The ready documents this conversation answers from, in a stable order (by id).

    Only names, ids and versions come from the database each time (as tuples: this runs
    before every question is sent); the texts themselves come from the process's text cache,
    which loads those it does not hold at that version."""
    qs = ready_documents(conversation.workspace)
    if not conversation.scope_all:
        qs = qs.filter(pk__in=conversation.documents.values("pk"))
    rows = list(
        qs.values_list(
            "pk", "name", "text__pk", "text__updated_at", "text__token_count", "text__sha256"
        )
    )
    texts = text_cache.texts({text_id: version for _, _, text_id, version, _, _ in rows})
    return [
        DocumentText(id=pk, name=name, text=texts[text_id], token_count=tokens, content_hash=sha256)
        for pk, name, text_id, _, tokens, sha256 in rows
        if text_id in texts  # a text deleted since the first query: its document is gone
    ]


def citation_urls(
    workspace: Workspace, documents: Iterable[Document | DocumentText]
) -> dict[str, str]:
    """How an answer's `[name]` citations link: citation label → the document's page."""
    return {
        citation_label(d.name): reverse(
            "documents:detail", args=[workspace.slug, d.pk if isinstance(d, Document) else d.id]
        )
        for d in documents
    }

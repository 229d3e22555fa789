"""Reads for exports, always scoped to one workspace."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Prefetch, QuerySet

from apps.chat.models import Conversation, Message
from apps.documents.models import Document
from apps.workspaces.models import Workspace

from .models import WorkspaceExport


def _with_rows(qs: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """Conversations with their messages (and authors) and chosen documents, in few queries."""
    messages = Message.objects.select_related("author").order_by("created_at", "pk")
    return qs.select_related("workspace", "created_by").prefetch_related(
        Prefetch("messages", queryset=messages, to_attr="export_messages"),
        Prefetch("documents", queryset=Document.objects.order_by("pk"), to_attr="export_documents"),
    )


def conversation_for_export(workspace: Workspace, conversation_id: int) -> Conversation | None:
    """The workspace's conversation with its rows loaded (`export_messages`,
    `export_documents`), or None."""
    return _with_rows(Conversation.objects.filter(workspace=workspace, pk=conversation_id)).first()


def workspace_conversations(workspace: Workspace, chunk: int = 50) -> Iterator[Conversation]:
    """Every conversation of the workspace, oldest first, loaded `chunk` at a time (so a large
    workspace never sits in memory at once)."""
    qs = _with_rows(Conversation.objects.filter(workspace=workspace).order_by("pk"))
    return qs.iterator(chunk_size=chunk)


def conversation_count(workspace: Workspace) -> int:
    return Conversation.objects.filter(workspace=workspace).count()


def export_in(workspace: Workspace, export_id: int) -> WorkspaceExport | None:
    return WorkspaceExport.objects.filter(workspace=workspace, pk=export_id).first()


def recent_exports(workspace: Workspace, limit: int = 10) -> QuerySet[WorkspaceExport]:
    qs = WorkspaceExport.objects.filter(workspace=workspace).select_related("requested_by")
    return qs.order_by("-created_at", "-pk")[:limit]

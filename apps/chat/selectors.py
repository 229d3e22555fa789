"""Reads for chat, always scoped to one workspace."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cache, lru_cache

from django.db import connection
from django.db.models import Q, QuerySet
from django.urls import get_script_prefix, reverse

from apps.core import rows
from apps.documents.models import Document
from apps.documents.models import Status as DocumentStatus
from apps.documents.text_cache import text_cache
from apps.workspaces.models import Membership, Workspace

from .context import DocumentText, History
from .models import Conversation, Message, Status
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


def conversation_in(workspace: Workspace, conversation_id: int) -> Conversation | None:
    """The workspace's conversation with this id (its workspace set), or None.

    Every chat page and question starts here, so the query is written out (apps/core/rows.py
    says why): it is `Conversation.objects.filter(workspace=workspace, pk=conversation_id)
    .first()`, and a test holds the two to the same answers.
    """
    with connection.cursor() as cursor:
        cursor.execute(_conversation_sql(), [conversation_id, workspace.pk])
        row = cursor.fetchone()
    if row is None:
        return None
    conversation, _end = rows.instance(Conversation, row)
    conversation.workspace = workspace
    return conversation


@cache
def _conversation_sql() -> str:
    return (
        f'SELECT {rows.columns(Conversation, "c")} FROM "chat_conversation" c'  # noqa: S608
        ' WHERE c."id" = %s AND c."workspace_id" = %s'
    )


def answered_history(conversation: Conversation, *, before: datetime | None = None) -> History:
    """(role, content) of the conversation's questions and answered replies, oldest first,
    optionally only those from `before`: what the context builder may send as history.
    Failed, still-streaming, interrupted and empty answers are left out.

    Read before every question is sent, so written out (apps/core/rows.py says why): it is
    `_history_queryset(conversation, before).values_list("role", "content")`, and a test
    holds the two to the same rows.
    """
    sql = _HISTORY_SQL
    params: list[int | str | datetime] = [conversation.pk, *_UNANSWERED]
    if before is not None:
        sql, params = sql + ' AND "created_at" < %s', [*params, before]
    with connection.cursor() as cursor:
        cursor.execute(sql + ' ORDER BY "created_at", "id"', params)
        return cursor.fetchall()


_HISTORY_SQL = (
    'SELECT "role", "content" FROM "chat_message"'
    ' WHERE "conversation_id" = %s AND "status" NOT IN (%s, %s, %s) AND "content" <> \'\''
)
# Not history: answers that failed, are still being written, or whose stream died mid-way.
_UNANSWERED = (Status.FAILED, Status.STREAMING, Status.INTERRUPTED)


def _history_queryset(conversation: Conversation, before: datetime | None) -> QuerySet[Message]:
    """What `answered_history` reads, through the ORM (for its tests)."""
    qs = conversation_messages(conversation).exclude(status__in=_UNANSWERED)
    qs = qs.exclude(content="")
    return qs if before is None else qs.filter(created_at__lt=before)


def ready_documents(workspace: Workspace) -> QuerySet[Document]:
    return (
        Document.objects.filter(workspace=workspace, status=DocumentStatus.READY)
        .exclude(text__isnull=True)
        .select_related("text")
        .order_by("pk")
    )


def scope_documents(conversation: Conversation) -> list[DocumentText]:
    """The ready documents this conversation answers from, in a stable order (by id).

    Only names, ids and versions come from the database each time; the texts themselves come
    from the process's text cache, which loads those it does not hold at that version. This
    runs before every question is sent, so the query is written out (apps/core/rows.py says
    why): it is `_scope_queryset(conversation).values_list(*_SCOPE_FIELDS)`, and a test holds
    the two to the same rows.
    """
    sql = _SCOPE_SQL
    params: list[int | str] = [conversation.workspace_id, DocumentStatus.READY]
    if not conversation.scope_all:
        sql, params = sql + _CHOSEN_SQL, [*params, conversation.pk]
    with connection.cursor() as cursor:
        cursor.execute(sql + ' ORDER BY d."id"', params)
        rows = cursor.fetchall()
    texts = text_cache.texts({text_id: version for _, _, text_id, version, _, _ in rows})
    return [
        DocumentText(id=pk, name=name, text=texts[text_id], token_count=tokens, content_hash=sha256)
        for pk, name, text_id, _, tokens, sha256 in rows
        if text_id in texts  # a text deleted since the first query: its document is gone
    ]


_SCOPE_FIELDS = ("pk", "name", "text__pk", "text__updated_at", "text__token_count", "text__sha256")
_SCOPE_SQL = (
    'SELECT d."id", d."name", t."id", t."updated_at", t."token_count", t."sha256"'
    ' FROM "documents_document" d JOIN "documents_extractedtext" t ON t."id" = d."text_id"'
    ' WHERE d."workspace_id" = %s AND d."status" = %s'
)
_CHOSEN_SQL = (
    ' AND d."id" IN'
    ' (SELECT "document_id" FROM "chat_conversation_documents" WHERE "conversation_id" = %s)'
)


def _scope_queryset(conversation: Conversation) -> QuerySet[Document]:
    """What `scope_documents` reads, through the ORM (for its tests)."""
    qs = ready_documents(conversation.workspace)
    if not conversation.scope_all:
        qs = qs.filter(pk__in=conversation.documents.values("pk"))
    return qs


def citation_urls(
    workspace: Workspace, documents: Iterable[Document | DocumentText]
) -> dict[str, str]:
    """How an answer's `[name]` citations link: citation label → the document's page."""
    prefix = get_script_prefix()
    return {
        citation_label(d.name): _document_url(
            prefix, workspace.slug, d.pk if isinstance(d, Document) else d.id
        )
        for d in documents
    }


@lru_cache(maxsize=4096)
def _document_url(script_prefix: str, slug: str, document_id: int) -> str:
    """`reverse` takes about 30 µs here, once per document in scope of every question, so its
    answers are kept; `script_prefix` is in the key because `reverse` prepends it."""
    return reverse("documents:detail", args=[slug, document_id])

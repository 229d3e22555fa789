"""Reads for documents. Every query starts from the workspace the access helper resolved."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.db.models.functions import Length, Substr

from apps.workspaces.models import Workspace

from .models import NOT_FINAL, Document, ExtractedText, Status

TEXT_PAGE_CHARS = 20_000


def documents_in(workspace: Workspace) -> QuerySet[Document]:
    """The workspace's documents with uploader and token count, without loading any text."""
    return (
        Document.objects.for_workspace(workspace)
        .select_related("uploaded_by", "text")
        .defer("text__text", "text__content")
    )


def document_list(workspace: Workspace, *, status: str = "", query: str = "") -> QuerySet[Document]:
    documents = documents_in(workspace)
    if status in Status.values:
        documents = documents.filter(status=status)
    if query.strip():
        documents = documents.filter(name__icontains=query.strip())
    return documents


def documents_by_ids(workspace: Workspace, ids: list[int]) -> list[Document]:
    return list(documents_in(workspace).filter(pk__in=ids[:200]))


def has_unfinished(workspace: Workspace) -> bool:
    return Document.objects.for_workspace(workspace).filter(status__in=NOT_FINAL).exists()


@dataclass(frozen=True)
class TextPage:
    text: str
    number: int
    count: int
    total_chars: int

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.count


def text_page(document: Document, number: int, size: int = TEXT_PAGE_CHARS) -> TextPage | None:
    """One page of a document's extracted text, cut in the database so a long text is never
    loaded whole into the web process."""
    if document.text_id is None:
        return None
    total = (
        ExtractedText.objects.filter(pk=document.text_id)
        .annotate(n=Length("text"))
        .values_list("n", flat=True)
        .first()
    )
    if total is None:
        return None
    count = max(1, -(-total // size))
    number = min(max(1, number), count)
    chunk = (
        ExtractedText.objects.filter(pk=document.text_id)
        .annotate(chunk=Substr("text", (number - 1) * size + 1, size))
        .values_list("chunk", flat=True)
        .first()
    )
    return TextPage(text=chunk or "", number=number, count=count, total_chars=total)

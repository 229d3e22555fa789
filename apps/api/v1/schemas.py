"""Request and response shapes of /api/v1/ (pydantic, through django-ninja)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from ninja import Field, Schema


class Error(Schema):
    code: str
    message: str


class DocumentOut(Schema):
    id: int
    name: str
    status: str
    final: bool
    size: int
    extension: str
    mime_type: str
    sha256: str
    token_count: int | None
    failure_message: str
    uploaded_at: datetime


class DocumentPage(Schema):
    count: int
    page: int
    pages: int
    items: list[DocumentOut]


class UploadResult(Schema):
    ok: bool
    name: str
    message: str
    duplicate: bool = False
    document: DocumentOut | None = None


class UploadOut(Schema):
    results: list[UploadResult]


class TextPageOut(Schema):
    document_id: int
    page: int
    pages: int
    total_chars: int
    text: str


class ConversationIn(Schema):
    title: str = ""
    scope: Literal["all", "some"] = "all"
    document_ids: list[int] = Field(default_factory=list)
    model: str = "auto"


class ConversationOut(Schema):
    id: int
    title: str
    scope: Literal["all", "some"]
    document_ids: list[int]
    model: str
    created_at: datetime
    updated_at: datetime


class ConversationPage(Schema):
    count: int
    page: int
    pages: int
    items: list[ConversationOut]


class MessageOut(Schema):
    id: int
    role: str
    content: str
    status: str
    model: str
    offline: bool
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    sources: list[Any]
    quotes: list[Any]
    error_message: str
    created_at: datetime


class AskIn(Schema):
    question: str
    stream: bool = False


class AnswerOut(Schema):
    conversation_id: int
    question_id: int
    answer_id: int | None
    status: str
    text: str
    model: str = ""
    sources: list[Any] = Field(default_factory=list)
    quotes: list[Any] = Field(default_factory=list)
    usage: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class UsageDay(Schema):
    date: date
    messages: int
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    cost_cny: str


class UsageOut(Schema):
    workspace: str
    tokens_today: int
    max_tokens_per_day: int | None
    documents: int
    bytes: int
    days: list[UsageDay]

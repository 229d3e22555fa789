"""Writes for chat: conversations, and the two ends of one question-and-answer turn.

A turn is split so that no database connection is held while tokens flow:
`start_turn` (before streaming) saves the question first — no failure can lose it — creates the
assistant message in STREAMING state and builds the context; `finish_turn` (after streaming,
whatever happened) saves the answer with its status, usage and cost in one short write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.moonshot.catalogue import get_model
from apps.moonshot.client import provider_configured
from apps.moonshot.types import Usage
from apps.workspaces.models import Membership, Workspace

from . import offline, selectors
from .context import ContextPlan, Turn, build_context
from .prompts import citation_label
from .models import Conversation, Message, Role, Status

TITLE_LENGTH = 80
MAX_QUESTION_CHARS = 8000


class ChatError(Exception):
    """A rule about chat was broken; str(error) is a message for the user."""


def create_conversation(*, workspace: Workspace, user: User) -> Conversation:
    return Conversation.objects.create(workspace=workspace, created_by=user)


def _may_edit(conversation: Conversation, membership: Membership) -> bool:
    return membership.can_manage or conversation.created_by_id == membership.user_id


def rename_conversation(*, conversation: Conversation, membership: Membership, title: str) -> None:
    if not _may_edit(conversation, membership):
        raise ChatError(_("Only the person who started a conversation, or an admin, can rename it."))
    title = title.strip()
    if not title:
        raise ChatError(_("A title cannot be empty."))
    conversation.title = title[:200]
    conversation.save(update_fields=["title"])


def delete_conversation(*, conversation: Conversation, membership: Membership) -> None:
    if not _may_edit(conversation, membership):
        raise ChatError(_("Only the person who started a conversation, or an admin, can delete it."))
    conversation.delete()


def set_scope(
    *, conversation: Conversation, scope_all: bool, document_ids: list[int], model_choice: str
) -> None:
    """Remember which documents and which model this conversation answers from."""
    allowed = set(
        selectors.ready_documents(conversation.workspace).values_list("pk", flat=True)
    )
    chosen = [pk for pk in document_ids if pk in allowed]
    if model_choice != "auto" and get_model(model_choice) is None:
        raise ChatError(_("Unknown model."))
    with transaction.atomic():
        conversation.scope_all = scope_all
        conversation.model_choice = model_choice
        conversation.save(update_fields=["scope_all", "model_choice"])
        conversation.documents.set(chosen)


@dataclass
class PreparedTurn:
    """Everything the stream needs, computed before any token flows."""

    conversation_id: int
    workspace_id: int
    question_id: int
    answer_id: int
    plan: ContextPlan
    offline: bool
    citation_urls: dict[str, str] = field(default_factory=dict)
    sources: list[dict] = field(default_factory=list)
    offline_answer: str = ""


def start_turn(
    *, conversation: Conversation, user: User, question: str, regenerate: bool = False
) -> PreparedTurn:
    """Save the question, create the answer placeholder, and build the provider messages.

    With `regenerate`, the last answer is replaced and the last question is asked again.
    Raises ChatError for an empty or oversized question, or nothing to regenerate.
    """
    with transaction.atomic():
        if regenerate:
            last_answer = conversation.messages.filter(role=Role.ASSISTANT).last()
            last_question = conversation.messages.filter(role=Role.USER).last()
            if last_question is None:
                raise ChatError(_("There is no question to answer again."))
            if last_answer is not None and last_answer.created_at > last_question.created_at:
                last_answer.delete()
            question_message = last_question
        else:
            question = question.strip()
            if not question:
                raise ChatError(_("Type a question first."))
            if len(question) > MAX_QUESTION_CHARS:
                raise ChatError(
                    _("The question is too long (at most %(n)d characters).")
                    % {"n": MAX_QUESTION_CHARS}
                )
            question_message = Message.objects.create(
                conversation=conversation,
                workspace=conversation.workspace,
                author=user,
                role=Role.USER,
                content=question,
            )
            if not conversation.title:
                conversation.title = question[:TITLE_LENGTH]
        conversation.updated_at = timezone.now()
        conversation.save(update_fields=["title", "updated_at"])
        documents = selectors.scope_documents(conversation)
        history = [
            Turn(role=m.role, content=m.content)
            for m in conversation.messages.filter(created_at__lt=question_message.created_at)
            .exclude(status=Status.FAILED)
            .exclude(content="")
        ]
        plan = build_context(
            documents,
            question_message.content,
            history,
            model=conversation.model_choice,
            language=(get_language() or "en"),
        )
        by_id = {d.id: d for d in documents}
        sources = [
            {"id": pk, "name": by_id[pk].name, "narrowed": pk in plan.narrowed}
            for pk in plan.included
        ]
        answer = Message.objects.create(
            conversation=conversation,
            workspace=conversation.workspace,
            role=Role.ASSISTANT,
            status=Status.STREAMING,
            model=plan.model.id if plan.model else "",
            offline=not provider_configured(),
            sources=sources,
        )
    slug = conversation.workspace.slug
    citation_urls = {
        citation_label(d.name): reverse("documents:detail", args=[slug, d.id]) for d in documents
    }
    return PreparedTurn(
        conversation_id=conversation.pk,
        workspace_id=conversation.workspace_id,
        question_id=question_message.pk,
        answer_id=answer.pk,
        plan=plan,
        offline=answer.offline,
        citation_urls=citation_urls,
        sources=sources,
        offline_answer=offline.compose(documents, question_message.content) if answer.offline else "",
    )


def finish_turn(
    *,
    answer_id: int,
    text: str,
    status: str,
    usage: Usage | None = None,
    model: str = "",
    error_message: str = "",
    retryable: bool = False,
    ttft_ms: int | None = None,
) -> Message:
    """Save what was generated, however the stream ended. Cost comes from the catalogue."""
    answer = Message.objects.get(pk=answer_id)
    answer.content = text
    answer.status = status
    answer.error_message = error_message[:500]
    answer.retryable = retryable
    answer.finished_at = timezone.now()
    answer.ttft_ms = ttft_ms
    if model:
        answer.model = model
    if usage is not None:
        answer.prompt_tokens = usage.prompt_tokens
        answer.cached_tokens = usage.cached_tokens
        answer.completion_tokens = usage.completion_tokens
        info = get_model(answer.model)
        answer.cost_cny = (
            info.cost_cny(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)
            if info
            else Decimal(0)
        )
    answer.save()
    return answer

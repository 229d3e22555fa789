"""Writes for chat: conversations, and the two ends of one question-and-answer turn.

A turn is split so that no database connection is held while tokens flow:
`start_turn` (before streaming) saves the question first — no failure can lose it — and builds
the context; `open_answer` creates the assistant message in STREAMING state (the stream calls it
while the provider request goes out: the provider does not need it, so the first token does not
wait for it); `finish_turn` (after streaming, whatever happened) saves the answer with its
status, usage and cost in one short write. While it streams, the stream renews the answer's
lease (`renew_lease`, with the text so far); `interrupt_orphaned_answers` marks answers whose
lease ran out — their process died — as interrupted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.moonshot.admission import Priority
from apps.moonshot.catalogue import chat_models, get_model
from apps.moonshot.client import MoonshotClient, RetryPolicy, provider_configured
from apps.moonshot.types import Usage
from apps.workspaces.limits import LimitReached
from apps.workspaces.models import Membership, Workspace

from . import offline, selectors
from .context import ContextPlan, DocumentText, History, Turn, build_context
from .limits import check_chat_allowed
from .models import Conversation, Message, Role, Status
from .prompts import citation_label
from .window import fit_to_window

TITLE_LENGTH = 80
MAX_QUESTION_CHARS = 8000


class ChatError(Exception):
    """A rule about chat was broken; str(error) is a message for the user."""


class NotAllowed(ChatError):
    """The member may read this conversation but not change it (the view answers 403)."""


class OverLimit(ChatError):
    """The workspace used its chat tokens for today (the view answers 429, not retryable)."""


def create_conversation(*, workspace: Workspace, user: User) -> Conversation:
    """Any member, viewers included, may start a conversation: asking changes no document."""
    return Conversation.objects.create(workspace=workspace, created_by=user)


def may_change(conversation: Conversation, membership: Membership) -> bool:
    """Everyone in the workspace reads every conversation; its creator and the workspace's
    admins ask in it, change its scope, rename and delete it."""
    return membership.can_manage or conversation.created_by_id == membership.user_id


def require_change(conversation: Conversation, membership: Membership) -> None:
    if not may_change(conversation, membership):
        raise NotAllowed(
            _("Only the person who started this conversation, or an admin, can change it.")
        )


def rename_conversation(*, conversation: Conversation, membership: Membership, title: str) -> None:
    require_change(conversation, membership)
    title = " ".join(title.split())
    if not title:
        raise ChatError(_("A title cannot be empty."))
    conversation.title = title[:200]
    conversation.save(update_fields=["title"])


def delete_conversation(*, conversation: Conversation, membership: Membership) -> None:
    require_change(conversation, membership)
    conversation.delete()


def set_scope(
    *,
    conversation: Conversation,
    membership: Membership,
    scope_all: bool,
    document_ids: list[int],
    model_choice: str,
) -> None:
    """Remember which documents and which model this conversation answers from. Ids that are
    not ready documents of this workspace are ignored."""
    require_change(conversation, membership)
    allowed = set(selectors.ready_documents(conversation.workspace).values_list("pk", flat=True))
    chosen = [pk for pk in document_ids if pk in allowed]
    if model_choice != "auto" and model_choice not in {m.id for m in chat_models()}:
        raise ChatError(_("Unknown model."))
    with transaction.atomic():
        conversation.scope_all = scope_all
        conversation.model_choice = model_choice
        conversation.save(update_fields=["scope_all", "model_choice"])
        conversation.documents.set(chosen)


@dataclass
class PreparedTurn:
    """Everything the stream needs, computed before any token flows (no ORM objects inside)."""

    conversation_id: int
    workspace_id: int
    question_id: int
    # When the question was saved: its answer sorts just after it (see `open_answer`).
    asked_at: datetime
    # None until `open_answer` created the answer (`start_turn` does so itself on regenerate).
    answer_id: int | None
    title: str
    plan: ContextPlan
    offline: bool
    citation_urls: dict[str, str] = field(default_factory=dict)
    sources: list[dict] = field(default_factory=list)
    offline_answer: str = ""
    # Citation label → full text of each document in scope, to check the answer's quotations.
    quote_sources: dict[str, str] = field(default_factory=dict)
    # Why the question cannot be sent (the documents do not fit any model); "" when it can.
    refusal: str = ""
    # Set by the API (apps/api): its calls queue behind people's, and may set temperature,
    # top_p, stop and penalties (added to the provider request as they are).
    priority: Priority = Priority.INTERACTIVE
    sampling: dict[str, Any] = field(default_factory=dict)


def make_title(question: str) -> str:
    """The first line of the first question, cut at a word near TITLE_LENGTH characters."""
    line = " ".join(question.split())
    if len(line) <= TITLE_LENGTH:
        return line
    cut = line[: TITLE_LENGTH - 1]
    space = cut.rfind(" ")
    if space > TITLE_LENGTH // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:，。；：") + "…"


def _clean_question(question: str) -> str:
    question = question.strip()
    if not question:
        raise ChatError(_("Type a question first."))
    if len(question) > MAX_QUESTION_CHARS:
        raise ChatError(
            _("The question is too long (at most %(n)d characters).") % {"n": MAX_QUESTION_CHARS}
        )
    return question


def start_turn(
    *,
    conversation: Conversation,
    membership: Membership,
    question: str = "",
    regenerate: bool = False,
    history: History | None = None,
) -> PreparedTurn:
    """Save the question and plan the provider request; `open_answer` then creates the answer.

    The question is committed before anything goes upstream, so no later failure can lose it.
    With `regenerate`, the last answer (if any) is deleted and the last question asked again,
    and its replacement is created here, under the lock (`answer_id` is set).
    Raises NotAllowed; OverLimit when the workspace's daily token limit is used up (nothing is
    saved then: the page gives the question back); ChatError for an empty or oversized question
    or nothing to regenerate.
    `history` ((role, content) pairs, oldest first) replaces the conversation's own: the
    OpenAI-compatible API sends its history with each question.
    """
    require_change(conversation, membership)
    if not regenerate:
        question = _clean_question(question)
    workspace = membership.workspace  # loaded with the membership: no query for it below
    if conversation.workspace_id != workspace.pk:  # a caller's mistake, never a user's
        raise ValueError("the conversation and the membership are of different workspaces")
    try:
        check_chat_allowed(workspace)
    except LimitReached as error:
        raise OverLimit(str(error)) from error
    offline_mode = not provider_configured()
    conversation.workspace = workspace
    if regenerate:
        with transaction.atomic():
            # Locked: two regenerates at once must not both delete and replace the answer.
            conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
            conversation.workspace = workspace
            question_message = conversation.messages.filter(role=Role.USER).last()
            if question_message is None:
                raise ChatError(_("There is no question to answer again."))
            conversation.messages.filter(
                role=Role.ASSISTANT, created_at__gte=question_message.created_at
            ).delete()
            earlier = selectors.answered_history(conversation, before=question_message.created_at)
            turn = _prepare(conversation, question_message, earlier, offline_mode)
            open_answer(turn)
        return turn
    # No transaction and no lock: each statement commits on its own, the question first, so no
    # later failure can lose it; its answer comes with `open_answer`. Two questions sent at
    # once in one conversation are each answered from the history committed when they were
    # asked.
    earlier = selectors.answered_history(conversation) if history is None else history
    question_message = Message.objects.create(
        conversation=conversation,
        workspace=workspace,
        author=membership.user,
        role=Role.USER,
        content=question,
    )
    return _prepare(conversation, question_message, earlier, offline_mode)


def _prepare(
    conversation: Conversation,
    question_message: Message,
    earlier: History,
    offline_mode: bool,
) -> PreparedTurn:
    """The turn that answers the saved `question_message`, with `earlier` as its history."""
    question = question_message.content
    documents, plan, sources = _plan(conversation, question, earlier)
    workspace = conversation.workspace
    return PreparedTurn(
        conversation_id=conversation.pk,
        workspace_id=workspace.pk,
        question_id=question_message.pk,
        asked_at=question_message.created_at,
        answer_id=None,
        title=conversation.title or make_title(question),
        plan=plan,
        offline=offline_mode,
        citation_urls=selectors.citation_urls(workspace, documents),
        sources=sources,
        offline_answer=offline.compose(documents, question) if offline_mode else "",
        quote_sources={citation_label(d.name): d.text for d in documents},
        refusal="" if offline_mode or plan.fits else plan.reason,
    )


def open_answer(turn: PreparedTurn) -> int | None:
    """Create the answer of a turn in STREAMING state (once: later calls return its id) and
    move the conversation to the top of the list, with the title of its first question.

    The answer sorts just after its question (a microsecond later), even when another question
    was asked in the conversation meanwhile. Returns None when the conversation was deleted
    since the question was saved (then there is nothing to answer into).
    """
    if turn.answer_id is not None:
        return turn.answer_id
    try:
        answer = Message.objects.create(
            conversation_id=turn.conversation_id,
            workspace_id=turn.workspace_id,
            role=Role.ASSISTANT,
            status=Status.STREAMING,
            model="" if turn.offline else turn.plan.model.id,
            offline=turn.offline,
            sources=turn.sources,
            created_at=turn.asked_at + timedelta(microseconds=1),
            lease_until=_lease_end(),
        )
    except IntegrityError:  # the conversation (and its question) is gone
        return None
    turn.answer_id = answer.pk
    Conversation.objects.filter(pk=turn.conversation_id).update(
        title=Case(When(title="", then=Value(turn.title)), default=F("title")),
        updated_at=timezone.now(),
    )
    return answer.pk


def _plan(
    conversation: Conversation, question: str, earlier: History
) -> tuple[list[DocumentText], ContextPlan, list[dict]]:
    """The documents in scope, the provider request planned from them and the history
    (`earlier`: `selectors.answered_history`), and the sources the answer will list."""
    documents = selectors.scope_documents(conversation)
    history = [Turn(role=role, content=content) for role, content in earlier]
    language = get_language() or "en"

    def plan_with(token_ratio: float) -> ContextPlan:
        return build_context(
            documents,
            question,
            history,
            model=conversation.model_choice,
            language=language,
            token_ratio=token_ratio,
        )

    plan = plan_with(1.0)
    if provider_configured():
        plan = fit_to_window(plan, plan_with, _provider_count)
    names = {d.id: d.name for d in documents}
    sources = [
        {"id": pk, "name": names[pk], "narrowed": pk in plan.narrowed} for pk in plan.included
    ]
    return documents, plan, sources


def _provider_count(plan: ContextPlan) -> int:
    """The provider's count of the planned prompt: one try, no retries (a plan is waiting)."""
    client = MoonshotClient(retry=RetryPolicy(max_attempts=1))
    return client.estimate_tokens(plan.messages, model=plan.model.id)


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
    quotes: list[dict] | None = None,
    sources: list[dict] | None = None,
) -> Message | None:
    """Save what was generated, however the stream ended, in one short write. Cost comes from
    the catalogue price of the model that answered. None when the answer is gone (its
    conversation was deleted, or a regenerate replaced it, while it streamed)."""
    answer = Message.objects.filter(pk=answer_id).first()
    if answer is None:
        return None
    answer.content = text
    answer.status = status
    answer.error_message = error_message[:500]
    answer.retryable = retryable
    answer.finished_at = timezone.now()
    answer.ttft_ms = ttft_ms
    answer.quotes = quotes or []
    answer.lease_until = None
    if sources is not None:
        answer.sources = sources
    if model:
        answer.model = model
    if usage is not None:
        answer.prompt_tokens = usage.prompt_tokens
        answer.cached_tokens = usage.cached_tokens
        answer.completion_tokens = usage.completion_tokens
        answer.cost_cny = turn_cost(answer.model, usage) or Decimal(0)
    answer.save()
    return answer


def mark_cited_sources(sources: list[dict], used: list[str]) -> list[dict]:
    """The turn's `sources`, each marked `cited` when its citation label is in `used` (see
    `quotes.documents_used`); the cited first, in the order the answer used them."""
    order = {label: i for i, label in enumerate(used)}
    marked = [{**s, "cited": citation_label(s["name"]) in order} for s in sources]
    return sorted(marked, key=lambda s: order.get(citation_label(s["name"]), len(order)))


def turn_cost(model: str, usage: Usage) -> Decimal | None:
    """CNY for this usage at the catalogue price of `model`; None for a model it does not list."""
    info = get_model(model)
    if info is None:
        return None
    return info.cost_cny(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)


def _lease_end() -> datetime:
    return timezone.now() + timedelta(seconds=settings.CHAT_STREAM_LEASE_SECONDS)


def renew_lease(*, answer_id: int, text: str) -> bool:
    """The stream of this answer is alive: extend its lease and save the text so far (what an
    interruption keeps). False when the answer is no longer streaming (finished, deleted, or
    already marked interrupted: then the stream's own `finish_turn` has the last word)."""
    return bool(
        Message.objects.filter(pk=answer_id, status=Status.STREAMING).update(
            content=text, lease_until=_lease_end()
        )
    )


def interrupt_orphaned_answers(*, conversation_id: int | None = None) -> int:
    """Mark STREAMING answers whose stream's process is gone as INTERRUPTED; return how many.

    `finish_turn` runs however a stream ends, except when the server process itself dies (a
    crash, a SIGKILL, a deploy that does not drain): its answers would say "streaming" forever.
    A live stream renews its answer's lease every few seconds, so a lease that ran out means
    the process died; the text saved by the last renewal is kept and the user gets a retry.
    Rows from before leases existed (no lease) count as orphaned once older than
    CHAT_ABANDONED_AFTER_SECONDS. `conversation_id` limits the sweep to one conversation (the
    page does that before showing it). A stream that was merely stalled that long still saves
    its outcome when it ends.
    """
    now = timezone.now()
    abandoned = now - timedelta(seconds=settings.CHAT_ABANDONED_AFTER_SECONDS)
    orphaned = Message.objects.filter(role=Role.ASSISTANT, status=Status.STREAMING).filter(
        Q(lease_until__lt=now) | Q(lease_until__isnull=True, created_at__lt=abandoned)
    )
    if conversation_id is not None:
        orphaned = orphaned.filter(conversation_id=conversation_id)
    return orphaned.update(
        status=Status.INTERRUPTED,
        error_message=_("The answer was interrupted (the server restarted). Please try again."),
        retryable=True,
        finished_at=now,
        lease_until=None,
    )

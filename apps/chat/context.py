"""The context builder: which messages to send, to which model, within which budget.

Layout (reference §9): one system message per document, ordered by document id, then one
instructions message, then the conversation history, then the question. Documents first and in
a stable form means the provider's automatic prefix cache keeps hitting across questions and
across users of the same workspace; the only per-request text comes after them.

Budget: `prompt + max_tokens` must fit the model's window or the provider answers 400. With
`model="auto"` the smallest configured chat model that holds everything is chosen (cheapest);
when none holds the whole history, the largest is used and the oldest turns are dropped. When
the documents alone exceed the largest window, the big documents are cut down to the passages
that best match the question (`ranking`) and reported in `narrowed`, and their messages are then
question-specific (no cache hit for them). Token counts are the local estimate, which leans
high, plus each document's stored `token_count`.

Pure: no database, no network. Reasons for `fits=False` are translated into the active language.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext

from apps.chat import prompts
from apps.chat.ranking import Passage, chunk_document, rank
from apps.moonshot.catalogue import ModelInfo, chat_models
from apps.moonshot.tokens import (
    MESSAGE_OVERHEAD_TOKENS,
    REQUEST_OVERHEAD_TOKENS,
    estimate_tokens,
)

# Share of the window kept for recent conversation when documents must be narrowed anyway,
# so that a follow-up question ("and the second one?") still has its antecedent.
HISTORY_SHARE_WHEN_NARROWING = 8
_GAP = f"\n\n{prompts.EXCERPT_GAP}\n\n"
_GAP_TOKENS = estimate_tokens(prompts.EXCERPT_GAP)


@dataclass(frozen=True)
class DocumentText:
    id: int
    name: str
    text: str
    token_count: int  # stored estimate or provider count of `text`; 0 means "not known"
    content_hash: str


TurnRole = Literal["user", "assistant"]
# Earlier (role, content) pairs of a conversation, oldest first: what a question is asked after.
History = list[tuple[TurnRole, str]]


@dataclass(frozen=True)
class Turn:
    role: TurnRole
    content: str


@dataclass
class ContextPlan:
    messages: list[dict[str, str]]
    model: ModelInfo
    prompt_tokens: int
    max_tokens: int
    included: list[int] = field(default_factory=list)
    narrowed: list[int] = field(default_factory=list)
    dropped_history: int = 0
    fits: bool = True
    reason: str = ""


@dataclass(frozen=True)
class _Part:
    message: dict[str, str]
    tokens: int  # including the per-message overhead


def _part(role: str, content: str, content_tokens: int | None = None) -> _Part:
    tokens = estimate_tokens(content) if content_tokens is None else content_tokens
    return _Part({"role": role, "content": content}, tokens + MESSAGE_OVERHEAD_TOKENS)


def _whole_document(doc: DocumentText) -> _Part:
    content, tokens = _document_message(doc.name, doc.content_hash, doc.token_count, doc.text)
    return _part("system", content, tokens)


# Documents in scope are the same from one question to the next: the message each makes (its
# text between a header and a footer) is kept, for the most recently used few. Building it
# again copied the whole text and estimated the frame for every document of every question
# (0.4 ms of 0.6 ms per question with 100k tokens in scope, measured). The texts come from the
# process's text cache, so the keys hash once and compare by identity.
@functools.lru_cache(maxsize=32)
def _document_message(name: str, content_hash: str, token_count: int, text: str) -> tuple[str, int]:
    """The system message of one whole document, and its tokens (without message overhead)."""
    marker = prompts.document_marker(content_hash)
    header = prompts.document_header(name, marker, excerpts=False)
    footer = prompts.document_footer(marker)
    body = prompts.document_body(text, marker)
    body_tokens = token_count if token_count > 0 and body is text else estimate_tokens(body)
    return header + body + footer, estimate_tokens(header) + body_tokens + estimate_tokens(footer)


# The instructions are one of a few fixed texts (by language).
_fixed_text_tokens = functools.lru_cache(maxsize=16)(estimate_tokens)


def build_context(
    documents: Sequence[DocumentText],
    question: str,
    history: Sequence[Turn],
    *,
    model: str = "auto",
    max_tokens: int = 1024,
    language: str = "en",
    token_ratio: float = 1.0,
) -> ContextPlan:
    """Plan one chat request. Raises ValueError for an empty question or max_tokens < 1, and
    ImproperlyConfigured when no chat model is configured; every other problem is a plan with
    `fits=False` and a user-facing `reason` (and no messages).

    `token_ratio`: tokens the provider counts per locally estimated token (above 1 once its
    count of a plan came out higher, see `apps.chat.window`); prompts are then planned to fit
    `(window - max_tokens) / token_ratio` estimated tokens."""
    question = question.strip()
    if not question:
        raise ValueError("empty question")
    if max_tokens < 1:
        raise ValueError("max_tokens must be positive")

    def prompt_room(m: ModelInfo) -> int:
        """Estimated prompt tokens that fit `m`'s window beside `max_tokens`."""
        return int((m.context_window - max_tokens) / token_ratio)

    available = chat_models()
    if not available:
        raise ImproperlyConfigured("MOONSHOT_CHAT_MODELS names no model from the catalogue")
    largest = available[-1]
    pinned = None
    if model != "auto":
        pinned = next((m for m in available if m.id == model), None)
        if pinned is None:
            reason = gettext("The model “%(model)s” is not available.") % {"model": model}
            return _refuse(largest, max_tokens, 0, reason)

    docs = sorted(documents, key=lambda d: d.id)
    turns = [t for t in history if t.content.strip()]
    instructions = prompts.instructions(language, has_documents=bool(docs))
    guide = _part("system", instructions, _fixed_text_tokens(instructions))
    ask = _part("user", question)
    fixed = REQUEST_OVERHEAD_TOKENS + guide.tokens + ask.tokens
    ceiling = pinned or largest
    if fixed > prompt_room(ceiling):
        reason = gettext("The question is too long for %(model)s. Please shorten it.") % {
            "model": ceiling.id
        }
        return _refuse(ceiling, max_tokens, fixed, reason)

    whole = [_whole_document(d) for d in docs]
    doc_tokens = sum(p.tokens for p in whole)
    turn_parts = [_part(t.role, t.content) for t in turns]
    history_tokens = sum(p.tokens for p in turn_parts)
    if pinned is not None:
        chosen = pinned
        if fixed + doc_tokens > prompt_room(pinned) and pinned is not largest:
            reason = gettext(
                "The selected documents are too long for %(model)s. Choose Auto or fewer documents."
            ) % {"model": pinned.id}
            return _refuse(pinned, max_tokens, fixed + doc_tokens, reason)
    else:
        need = fixed + doc_tokens + history_tokens
        chosen = next((m for m in available if need <= prompt_room(m)), largest)

    budget = prompt_room(chosen) - fixed
    narrowed: list[int] = []
    if doc_tokens <= budget:
        doc_parts = whole
    else:
        reserve = min(history_tokens, budget // HISTORY_SHARE_WHEN_NARROWING)
        query = " ".join([question, *(t.content for t in turns[-1:] if t.role == "user")])
        plan = _narrow(docs, whole, query, budget - reserve)
        if plan is None:
            reason = gettext(
                "Too many documents are selected to fit in one question. Select fewer documents."
            )
            return _refuse(chosen, max_tokens, fixed + doc_tokens, reason)
        doc_parts, narrowed = plan

    room = budget - sum(p.tokens for p in doc_parts)
    kept = _trim_history(turn_parts, room)
    prompt_tokens = fixed + sum(p.tokens for p in doc_parts) + sum(p.tokens for p in kept)
    return ContextPlan(
        messages=[p.message for p in (*doc_parts, guide, *kept, ask)],
        model=chosen,
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens,
        included=[d.id for d in docs],
        narrowed=narrowed,
        dropped_history=len(turn_parts) - len(kept),
    )


def _refuse(model: ModelInfo, max_tokens: int, prompt_tokens: int, reason: str) -> ContextPlan:
    return ContextPlan(
        messages=[],
        model=model,
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens,
        fits=False,
        reason=reason,
    )


def _trim_history(turns: list[_Part], room: int) -> list[_Part]:
    """The newest turns that fit in `room`, never starting with an assistant reply."""
    kept: list[_Part] = []
    for part in reversed(turns):
        if part.tokens > room:
            break
        kept.append(part)
        room -= part.tokens
    kept.reverse()
    while kept and kept[0].message["role"] == "assistant":
        kept.pop(0)
    return kept


def _narrow(
    docs: list[DocumentText], whole: list[_Part], query: str, budget: int
) -> tuple[list[_Part], list[int]] | None:
    """Fit the documents into `budget`: small ones whole, big ones as their best passages.

    Water-filling: going from the smallest document up, one that fits its fair share of what is
    left stays whole; the rest share the remainder, passage by passage in relevance order across
    all of them. None when not even the excerpt headers fit.
    """
    by_size = sorted(range(len(docs)), key=lambda i: (whole[i].tokens, docs[i].id))
    keep_whole: set[int] = set()
    remaining = budget
    for position, i in enumerate(by_size):
        share = remaining // (len(by_size) - position)
        if whole[i].tokens > share:
            break
        keep_whole.add(i)
        remaining -= whole[i].tokens
    to_cut = [i for i in range(len(docs)) if i not in keep_whole]
    markers = {i: prompts.document_marker(docs[i].content_hash) for i in to_cut}
    frames = {
        i: prompts.document_header(docs[i].name, markers[i], excerpts=True)
        + prompts.document_footer(markers[i])
        for i in to_cut
    }
    remaining -= sum(estimate_tokens(f) + MESSAGE_OVERHEAD_TOKENS for f in frames.values())
    remaining -= sum(estimate_tokens(prompts.NO_RELEVANT_PASSAGE) for _ in to_cut)
    if remaining < 0:
        return None
    passages = [
        p for i in to_cut for p in _passages(docs[i].id, docs[i].content_hash, docs[i].text)
    ]
    chosen: dict[int, list[Passage]] = {docs[i].id: [] for i in to_cut}
    for scored in rank(passages, query):
        cost = scored.passage.tokens + _GAP_TOKENS
        if cost <= remaining:
            chosen[scored.passage.doc_id].append(scored.passage)
            remaining -= cost
    parts = []
    for i, doc in enumerate(docs):
        if i in keep_whole:
            parts.append(whole[i])
            continue
        marker = markers[i]
        picked = sorted(chosen[doc.id], key=lambda p: p.index)
        body = _join_excerpts(picked, marker) or prompts.NO_RELEVANT_PASSAGE
        header = prompts.document_header(doc.name, marker, excerpts=True)
        footer = prompts.document_footer(marker)
        tokens = (
            estimate_tokens(header)
            + estimate_tokens(footer)
            + sum(p.tokens + _GAP_TOKENS for p in picked)
            + estimate_tokens(prompts.NO_RELEVANT_PASSAGE)
        )
        parts.append(_part("system", header + body + footer, tokens))
    return parts, [docs[i].id for i in to_cut]


@functools.lru_cache(maxsize=32)
def _passages(doc_id: int, content_hash: str, text: str) -> tuple[Passage, ...]:
    """Chunking and indexing a long document takes a while; a workspace asks about the same
    documents again and again, so the last few are kept (keyed by the text itself, too)."""
    return tuple(chunk_document(doc_id, text))


def _join_excerpts(passages: list[Passage], marker: str) -> str:
    """Passages in document order; a gap mark wherever text was left out."""
    out: list[str] = []
    previous = -1
    for passage in passages:
        if passage.index != previous + 1:
            out.append(_GAP if out else f"{prompts.EXCERPT_GAP}\n\n")
        elif out:
            out.append("\n\n")
        out.append(prompts.document_body(passage.text, marker))
        previous = passage.index
    return "".join(out)

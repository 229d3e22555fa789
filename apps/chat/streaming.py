"""The answer stream: relay the provider's tokens (or the offline answer) to the browser as SSE.

Runs entirely in the event loop without touching the database: `PreparedTurn` was built before
streaming, and the outcome is written by `services.finish_turn` in one short call at the end.
Events sent to the browser:
  queued {position, eta_seconds}  while waiting for an admission slot (with heartbeats)
  meta {model, sources, offline}  once, before the first token
  delta {text}                    each piece of text as it arrives
  html {html}                     the sanitised Markdown rendering of the answer so far (throttled)
  usage {...}                     tokens, cost and timing once the answer is complete
  error {message, retryable}      a failure, in words fit for the user
  done {status}                   the last event
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from django.utils.translation import gettext as _

from apps.moonshot import errors
from apps.moonshot.admission import WaitInfo
from apps.moonshot.catalogue import get_model
from apps.moonshot.client import AsyncMoonshotClient
from apps.moonshot.types import Usage

from . import offline, services
from .markdown import render_markdown
from .models import Status
from .services import PreparedTurn
from .sse import RelayError, RelayOutcome, RelayStatus, relay, sse_event

HTML_EVERY_SECONDS = 0.25
Emit = Callable[[str, dict[str, Any]], Awaitable[None]]


@dataclass
class TurnState:
    text: str = ""
    usage: Usage | None = None
    model: str = ""
    error: errors.MoonshotError | None = None
    started: float = field(default_factory=time.monotonic)
    first_token_at: float | None = None


async def _provider_answer(turn: PreparedTurn, state: TurnState, emit: Emit) -> None:
    client = AsyncMoonshotClient()

    def on_wait(info: WaitInfo) -> None:
        asyncio.get_running_loop().create_task(
            emit("queued", {"position": info.position, "eta_seconds": round(info.eta_seconds)})
        )

    async for chunk in client.stream_chat(
        turn.plan.messages,
        model=turn.plan.model.id,
        max_tokens=turn.plan.max_tokens,
        on_wait=on_wait,
    ):
        if chunk.text:
            await _add_text(turn, state, chunk.text, emit)
        if chunk.usage is not None:
            state.usage = chunk.usage
        if chunk.model:
            state.model = chunk.model


async def _offline_answer(turn: PreparedTurn, state: TurnState, emit: Emit) -> None:
    for piece in offline.pieces(turn.offline_answer):
        await _add_text(turn, state, piece, emit)
        await asyncio.sleep(0)  # let the relay send each piece as it is produced


_last_html: dict[int, float] = {}


async def _add_text(turn: PreparedTurn, state: TurnState, text: str, emit: Emit) -> None:
    if state.first_token_at is None:
        state.first_token_at = time.monotonic()
    state.text += text
    await emit("delta", {"text": text})
    now = time.monotonic()
    if now - _last_html.get(turn.answer_id, 0.0) >= HTML_EVERY_SECONDS:
        _last_html[turn.answer_id] = now
        await emit("html", {"html": render_markdown(state.text, turn.citation_urls)})


def stream_turn(turn: PreparedTurn) -> Any:
    """The async iterator of SSE text for one prepared turn."""
    state = TurnState(model=turn.plan.model.id if turn.plan.model else "")

    async def pump(queue: asyncio.Queue) -> None:
        async def emit(event: str, data: dict[str, Any]) -> None:
            await queue.put(sse_event(event, data))

        await emit(
            "meta", {"model": state.model, "sources": turn.sources, "offline": turn.offline}
        )
        try:
            if turn.offline:
                await _offline_answer(turn, state, emit)
            else:
                await _provider_answer(turn, state, emit)
        except errors.MoonshotError as error:
            state.error = error
            raise RelayError(error.user_message, retryable=error.retryable) from error
        await emit("html", {"html": render_markdown(state.text, turn.citation_urls)})
        await emit("usage", _usage_event(state))
        await emit("done", {"status": Status.COMPLETE})

    async def on_finish(outcome: RelayOutcome) -> None:
        _last_html.pop(turn.answer_id, None)
        status = _status(outcome, state)
        ttft = (
            int((state.first_token_at - state.started) * 1000) if state.first_token_at else None
        )
        await sync_to_async(_save)(turn, state, status, ttft)

    return relay(pump, on_finish=on_finish)


def _status(outcome: RelayOutcome, state: TurnState) -> str:
    if state.error is not None:
        return Status.FAILED
    if outcome.status == RelayStatus.STOPPED:
        return Status.STOPPED
    if outcome.status == RelayStatus.ERROR:
        return Status.FAILED
    return Status.COMPLETE


def _save(turn: PreparedTurn, state: TurnState, status: str, ttft_ms: int | None) -> None:
    error_message = state.error.user_message if state.error else ""
    if status == Status.FAILED and not error_message:
        error_message = _("The answer failed. Please try again.")
    try:
        services.finish_turn(
            answer_id=turn.answer_id,
            text=state.text,
            status=status,
            usage=state.usage,
            model=state.model,
            error_message=error_message,
            retryable=bool(state.error and state.error.retryable) or status == Status.FAILED,
            ttft_ms=ttft_ms,
        )
    finally:
        close_old_connections()


def _usage_event(state: TurnState) -> dict[str, Any]:
    usage = state.usage or Usage()
    info = get_model(state.model)
    cost = (
        info.cost_cny(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)
        if info and state.usage
        else None
    )
    return {
        "model": state.model,
        "prompt_tokens": usage.prompt_tokens,
        "cached_tokens": usage.cached_tokens,
        "completion_tokens": usage.completion_tokens,
        "cost_cny": str(cost) if cost is not None else None,
        "seconds": round(time.monotonic() - state.started, 2),
    }

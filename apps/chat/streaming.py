"""The answer stream: relay the provider's tokens (or the offline answer) to the browser as SSE.

Runs in the event loop and holds no database connection: `PreparedTurn` was built before
streaming; the answer's row is created by `services.open_answer` in the request's thread while
the provider works on the request; and the outcome is written by `services.finish_turn` in one
short call at the end, however the stream ended (complete, failed, or stopped because the
client went away). Until then the stream renews the answer's lease every few seconds, saving
the text so far: if the process dies, the sweep marks the answer interrupted once the lease runs
out, and what was written survives (services.interrupt_orphaned_answers).
Events sent to the browser, in order:
  meta {model, sources, offline, title}  once, first
  queued {position, eta_seconds, reason} while waiting for an admission slot (again as heartbeat)
  waiting {seconds}                      heartbeat while admitted but no token has come yet
  delta {text}                           each piece of text as it arrives
  html {html}                            sanitised Markdown of the answer so far (throttled)
  quotes {checks: [{quote, document, found}]}  the answer's quotations checked against the
                                         documents (only when it has any)
  sources {sources: [{id, name, narrowed, cited}]}  the sources again, those the answer cited
                                         or quoted first and marked `cited`
  usage {model, prompt_tokens, cached_tokens, completion_tokens, cost_cny, seconds}
  error {message, retryable}             a failure, in words fit for the user (ends the stream)
  done {status}                          the last event of a complete answer
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils.translation import gettext as _

from apps.core.busy import outage_message
from apps.core.db import release_db_connections
from apps.core.outage import OUTAGE_ERRORS
from apps.moonshot import errors
from apps.moonshot.admission import AdmissionController, WaitInfo, get_controller
from apps.moonshot.client import AsyncMoonshotClient, RetryPolicy
from apps.moonshot.types import Usage

from . import offline, services
from .markdown import render_markdown
from .models import Status
from .quotes import check_quotes, documents_used
from .services import PreparedTurn
from .sse import RelayError, RelayOutcome, RelayStatus, relay, sse_delta, sse_event

logger = logging.getLogger(__name__)

HTML_EVERY_SECONDS = 0.25
# Re-rendering growing answers takes at most this share of the event loop on average, and at
# most HTML_BURST_SECONDS of it at a time, however many answers are open (see _Renderer); an
# answer's formatting lags its text by HTML_MAX_SECONDS at most, except when rendering alone
# would take more than the share.
HTML_LOOP_SHARE = 0.1
HTML_BURST_SECONDS = 0.005
HTML_MAX_SECONDS = 5.0
# Before the first token: how often the page hears where it stands (queued / still waiting).
HEARTBEAT_SECONDS = 5.0
# None: the client's default policy. Tests set a fast one.
RETRY_POLICY: RetryPolicy | None = None

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]


@dataclass
class TurnState:
    """What one turn has produced so far; read by `finish_turn` whatever happens."""

    model: str = ""
    text: str = ""
    usage: Usage | None = None
    failed: bool = False
    error_message: str = ""
    retryable: bool = True
    started: float = field(default_factory=time.monotonic)
    first_token_at: float | None = None
    html_at: float = 0.0  # when the last `html` event was sent
    waiting: WaitInfo | None = None  # the latest place in the admission queue
    admitted: bool = False
    quotes: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] | None = None  # marked by what the answer used, at its end

    def fail(self, message: str, *, retryable: bool) -> RelayError:
        self.failed, self.error_message, self.retryable = True, message, retryable
        return RelayError(message, retryable=retryable)


class _WatchedAdmission:
    """The shared admission controller, telling the turn when its slot was granted (so the
    heartbeat stops repeating a queue position that no longer holds)."""

    def __init__(self, inner: AdmissionController, state: TurnState) -> None:
        self._inner = inner
        self._state = state

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @contextlib.asynccontextmanager
    async def aslot(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        self._state.admitted = False
        async with self._inner.aslot(*args, **kwargs) as lease:
            self._state.admitted = True
            self._state.waiting = None
            yield lease


def _queued(info: WaitInfo) -> dict[str, Any]:
    eta = None if info.eta_seconds is None else max(0, round(info.eta_seconds))
    return {"position": info.position, "eta_seconds": eta, "reason": info.reason}


async def _provider_answer(
    turn: PreparedTurn, state: TurnState, emit: Emit, open_answer: Callable[[], None]
) -> None:
    admission = _WatchedAdmission(get_controller(), state)
    # A proxy of the AdmissionController (everything but aslot delegates through __getattr__).
    client = AsyncMoonshotClient(admission=admission, retry=RETRY_POLICY)  # type: ignore[arg-type]

    async def on_wait(info: WaitInfo) -> None:
        open_answer()
        state.waiting = info
        await emit("queued", _queued(info))

    async for chunk in client.stream_chat(
        turn.plan.messages,
        model=turn.plan.model.id,
        max_tokens=turn.plan.max_tokens,
        on_wait=on_wait,
        on_sent=open_answer,
        prompt_tokens=turn.plan.prompt_tokens,
        sampling=turn.sampling,
        priority=turn.priority,
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
        await asyncio.sleep(0.02)  # paced like a model, so it reads (and can be stopped) alike


async def _add_text(turn: PreparedTurn, state: TurnState, text: str, emit: Emit) -> None:
    now = time.monotonic()
    if state.first_token_at is None:
        state.first_token_at = now
    state.text += text
    await emit("delta", {"text": text})
    if renderer.may_render(state.html_at, now):
        state.html_at = now
        await emit("html", {"html": renderer.render(state.text, turn.citation_urls)})


class _Renderer:
    """Re-renders growing answers as Markdown within a share of the event loop.

    One event loop relays every answer of the process, and rendering the whole answer so far
    costs more the longer it gets. So renderings draw on one bucket of loop time: it fills at
    HTML_LOOP_SHARE of the clock up to HTML_BURST_SECONDS, and each rendering takes out what it
    cost. An answer is re-rendered HTML_EVERY_SECONDS at most, and only while the bucket holds
    something; one not rendered for HTML_MAX_SECONDS may overdraw it (to -HTML_BURST_SECONDS).

    Why a bucket rather than an interval per answer: answers whose timers fall due together
    (all that were delayed by one slow moment of the loop) would render together and make the
    next slow moment. The bucket bounds what rendering adds to any stretch of the loop. The
    text itself still streams at full speed; the page shows what came after the last
    rendering as plain text.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.balance = HTML_BURST_SECONDS  # seconds of loop time rendering may still take
        self._filled_at = clock()

    def may_render(self, rendered_at: float, now: float) -> bool:
        """Whether an answer last rendered at `rendered_at` is re-rendered at `now`."""
        since = now - rendered_at
        if since < HTML_EVERY_SECONDS:
            return False
        refill = (now - self._filled_at) * HTML_LOOP_SHARE
        self.balance = min(HTML_BURST_SECONDS, self.balance + max(refill, 0.0))
        self._filled_at = now
        if self.balance > 0:
            return True
        return since >= HTML_MAX_SECONDS and self.balance > -HTML_BURST_SECONDS

    def render(self, text: str, citation_urls: dict[str, str]) -> str:
        started = time.perf_counter()
        html = render_markdown(text, citation_urls)
        self.balance -= time.perf_counter() - started
        return html


renderer = _Renderer()


async def _heartbeat(state: TurnState, emit: Emit) -> None:
    """Until the first token: the queue position while queued, else how long it has waited."""
    while True:
        await asyncio.sleep(HEARTBEAT_SECONDS)
        if state.first_token_at is not None:
            return
        if state.waiting is not None and not state.admitted:
            await emit("queued", _queued(state.waiting))
        else:
            await emit("waiting", {"seconds": round(time.monotonic() - state.started)})


async def _keep_lease(
    state: TurnState, opened: Callable[[], asyncio.Future[int | None] | None]
) -> None:
    """While the answer streams: renew its lease with the text so far, every
    CHAT_STREAM_LEASE_RENEW_SECONDS once its row exists. A failed renewal (the database is
    busy) is logged and tried again next time; the lease outlasts several renewals."""
    while True:
        await asyncio.sleep(settings.CHAT_STREAM_LEASE_RENEW_SECONDS)
        opening = opened()
        if opening is None or not opening.done() or opening.cancelled():
            continue
        if opening.exception() is not None:
            continue  # creating the row failed; `_save` tries once more at the end
        answer_id = opening.result()
        if answer_id is None:
            return  # the conversation is gone
        try:
            if not await sync_to_async(_renew_lease)(answer_id, state.text):
                return  # no longer streaming (deleted, or replaced by a regenerate)
        except Exception:
            logger.warning("could not renew the lease of answer %s", answer_id, exc_info=True)


def _renew_lease(answer_id: int, text: str) -> bool:
    try:
        return services.renew_lease(answer_id=answer_id, text=text)
    finally:
        release_db_connections()


def stream_turn(turn: PreparedTurn) -> AsyncGenerator[str, None]:
    """The async iterator of SSE text for one prepared turn."""
    state = TurnState(model="" if turn.offline else turn.plan.model.id)
    opening: asyncio.Future[int | None] | None = None

    def open_answer() -> None:
        """Create the answer's row, in the request's thread, once. The provider does not need
        it, so it is made while the provider works (once the request is written, or while it
        waits in the admission queue), not before the request goes out: on this path the
        first token would wait for two more database writes."""
        nonlocal opening
        if opening is None:
            opening = asyncio.ensure_future(sync_to_async(_open_answer)(turn))

    async def pump(queue: asyncio.Queue[str]) -> None:
        async def emit(event: str, data: dict[str, Any]) -> None:
            frame = sse_delta(data["text"]) if event == "delta" else sse_event(event, data)
            await queue.put(frame)

        await emit(
            "meta",
            {
                "model": state.model,
                "sources": turn.sources,
                "offline": turn.offline,
                "title": turn.title,
            },
        )
        heartbeat = asyncio.create_task(_heartbeat(state, emit))
        lease = asyncio.create_task(_keep_lease(state, lambda: opening))
        try:
            if turn.refusal:
                raise state.fail(turn.refusal, retryable=True)
            if turn.offline:
                open_answer()
                await _offline_answer(turn, state, emit)
            else:
                await _provider_answer(turn, state, emit, open_answer)
        except errors.MoonshotError as error:
            raise state.fail(str(error.user_message), retryable=error.retryable) from error
        except OUTAGE_ERRORS as error:  # Redis (admission) unreachable: say so, not "failed"
            logger.warning("Redis is unreachable during a chat stream: %s", error)
            raise state.fail(outage_message(), retryable=True) from error
        finally:
            heartbeat.cancel()
            lease.cancel()
        await emit("html", {"html": render_markdown(state.text, turn.citation_urls)})
        # Off the event loop: normalising 100k tokens of documents takes a few milliseconds.
        checks = await asyncio.to_thread(check_quotes, state.text, turn.quote_sources)
        state.quotes = [check.as_json() for check in checks]
        if state.quotes:
            await emit("quotes", {"checks": state.quotes})
        used = documents_used(state.text, checks, list(turn.quote_sources))
        state.sources = services.mark_cited_sources(turn.sources, used)
        await emit("sources", {"sources": state.sources})
        await emit("usage", _usage_event(state))
        await emit("done", {"status": Status.COMPLETE})

    async def on_finish(outcome: RelayOutcome) -> None:
        if opening is not None:
            try:
                await opening
            except Exception:  # the database failed; _save tries once more
                logger.warning("could not create the answer of a turn", exc_info=True)
        ttft = None
        if state.first_token_at is not None:
            ttft = int((state.first_token_at - state.started) * 1000)
        await sync_to_async(_save)(turn, state, _status(outcome, state), ttft)

    return relay(pump, on_finish=on_finish)


def _status(outcome: RelayOutcome, state: TurnState) -> str:
    if state.failed or outcome.status == RelayStatus.ERROR:
        return Status.FAILED
    if outcome.status == RelayStatus.STOPPED:
        return Status.STOPPED
    return Status.COMPLETE


def _open_answer(turn: PreparedTurn) -> int | None:
    try:
        return services.open_answer(turn)
    finally:
        release_db_connections()


def _save(turn: PreparedTurn, state: TurnState, status: str, ttft_ms: int | None) -> None:
    error_message = state.error_message
    if status == Status.FAILED and not error_message:
        error_message = _("The answer could not be completed. Please try again.")
    sources = state.sources
    if sources is None and state.text:  # stopped or failed mid-answer: what it cited so far
        used = documents_used(state.text, [], list(turn.quote_sources))
        sources = services.mark_cited_sources(turn.sources, used)
    try:
        answer_id = services.open_answer(turn)  # its id, unless creating it failed at first
        if answer_id is None:
            return  # the conversation was deleted while the answer streamed
        services.finish_turn(
            answer_id=answer_id,
            text=state.text,
            status=status,
            usage=state.usage,
            model=state.model,
            error_message=error_message if status == Status.FAILED else "",
            retryable=state.retryable if status == Status.FAILED else False,
            ttft_ms=ttft_ms,
            quotes=state.quotes,
            sources=sources,
        )
    finally:
        release_db_connections()  # a short write: the connection does not outlive it


def _usage_event(state: TurnState) -> dict[str, Any]:
    usage = state.usage or Usage()
    cost = services.turn_cost(state.model, usage) if state.usage else None
    return {
        "model": state.model,
        "prompt_tokens": usage.prompt_tokens,
        "cached_tokens": usage.cached_tokens,
        "completion_tokens": usage.completion_tokens,
        "cost_cny": None if cost is None else str(cost),
        "seconds": round(time.monotonic() - state.started, 2),
    }

"""Server-sent events: framing, and a relay that survives slow upstreams and vanishing clients.

The relay follows reference §A3: the producer (`pump`: admission, the provider stream, turning
chunks into events) runs in its own task and feeds a bounded queue, and the response generator
only waits on that queue. So a heartbeat timeout never cancels a read in the middle of the
upstream stream, and when the client goes away (Django ≥ 5.0 cancels the response task:
CancelledError; or the generator is closed: GeneratorExit) the pump task is cancelled, which
closes the upstream request and releases the admission slot through its own `async with`
blocks. `on_finish` then learns what happened, so the caller can save the partial answer. No
database access here; `on_finish` is where the caller does that (via sync_to_async).
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import re
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

from django.utils.translation import gettext

logger = logging.getLogger(__name__)

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
QUEUE_SIZE = 256
PUMP_EXIT_GRACE_SECONDS = 5.0


def sse_event(event: str, data: dict[str, Any] | str) -> str:
    """One SSE frame. A dict is sent as compact JSON; a string is sent as is, one `data:` line
    per line of it (the browser joins them back with "\\n"). Raises ValueError for an event name
    that would break the framing."""
    if not event or _LINE_BREAK.search(event):
        raise ValueError("an SSE event name must be one non-empty line")
    if not isinstance(data, str):
        # Compact JSON never holds a raw line break (json escapes them): one data line. This is
        # the hot path, once for every piece of every answer.
        return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
    lines = "".join(f"data: {line}\n" for line in _LINE_BREAK.split(data))
    return f"event: {event}\n{lines}\n"


def sse_delta(text: str) -> str:
    """Exactly `sse_event("delta", {"text": text})`, for the frame sent once per piece of every
    answer: json's own string encoder (the one `ensure_ascii=False` uses) without the dict
    and encoder set-up, a twentieth of the cost."""
    return f'event: delta\ndata: {{"text": {encode_basestring(text)}}}\n\n'


def sse_comment(text: str = "") -> str:
    """A comment frame: ignored by SSE parsers, but it flushes headers and keeps proxies awake."""
    return "".join(f": {line}\n" if line else ":\n" for line in _LINE_BREAK.split(text)) + "\n"


class RelayStatus(enum.StrEnum):
    COMPLETED = "completed"  # the pump returned
    STOPPED = "stopped"  # the client went away (Stop button, closed tab, lost connection)
    ERROR = "error"  # the pump raised


@dataclass(frozen=True)
class RelayOutcome:
    status: RelayStatus
    events_sent: int  # frames handed to the client (comments not counted)
    error: BaseException | None = None


class RelayError(Exception):
    """Raise from a pump to end the stream with this user-facing (translated) message."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


_END = object()
_PING = object()  # put by the heartbeat when the stream has been quiet


@dataclass(frozen=True)
class _Failed:
    error: BaseException


Pump = Callable[["asyncio.Queue[str]"], Awaitable[None]]


async def relay(
    pump: Pump,
    *,
    heartbeat_seconds: float = 15.0,
    on_finish: Callable[[RelayOutcome], Awaitable[None]],
    queue_size: int = QUEUE_SIZE,
) -> AsyncGenerator[str, None]:
    """Yield SSE text for a StreamingHttpResponse.

    `pump(queue)` puts ready-made frames (from `sse_event`) on the queue and returns when the
    answer is complete; it must release what it holds when cancelled. If it raises, the client
    gets an `error` event (a RelayError's message, otherwise a generic retryable one; details go
    to the log, never to the browser) and the outcome is ERROR. CancelledError is always
    re-raised after `on_finish`.
    """
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=queue_size)

    async def run() -> None:
        try:
            await pump(queue)
        except Exception as error:
            await queue.put(_Failed(error))
        else:
            await queue.put(_END)

    task = asyncio.create_task(run(), name="sse-relay-pump")
    quiet = [True]  # nothing sent since the heartbeat last looked

    async def heartbeat() -> None:
        # One timer per stream every heartbeat_seconds, rather than a timeout around every
        # wait for the next frame: that was ~5 % of the relay's CPU with hundreds of streams.
        while True:
            await asyncio.sleep(heartbeat_seconds)
            if quiet[0] and queue.empty():
                queue.put_nowait(_PING)
            quiet[0] = True

    beat = asyncio.create_task(heartbeat(), name="sse-relay-heartbeat")
    status, error, sent = RelayStatus.STOPPED, None, 0
    try:
        yield sse_comment("open")
        pending: Any = None  # taken off the queue while batching, not yet handled
        while True:
            if pending is not None:
                item, pending = pending, None
            else:
                item = await queue.get()
            if item is _PING:
                yield sse_comment("ping")
                continue
            if item is _END:
                status = RelayStatus.COMPLETED
                break
            if isinstance(item, _Failed):
                status, error = RelayStatus.ERROR, item.error
                yield _error_event(item.error)
                break
            # Frames already waiting go out in the same write: under load the pump gets ahead
            # of the socket, and one send per frame would only add to the load.
            frames = [item]
            while not queue.empty():
                following = queue.get_nowait()
                if following is _PING:
                    continue
                if not isinstance(following, str):
                    pending = following
                    break
                frames.append(following)
            sent += len(frames)
            quiet[0] = False
            yield "".join(frames)
    finally:
        beat.cancel()
        await _stop(task)
        outcome = RelayOutcome(status=status, events_sent=sent, error=error)
        try:
            # Shielded: a second cancellation (server shutdown) must not lose the saved answer.
            await asyncio.shield(on_finish(outcome))
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("on_finish failed after a chat stream (%s)", status)


def _error_event(error: BaseException) -> str:
    """What the browser learns about a failure: a RelayError's own words, else a generic line."""
    if isinstance(error, RelayError):
        return sse_event("error", {"message": error.message, "retryable": error.retryable})
    logger.warning("chat stream failed", exc_info=error)
    message = gettext("The answer could not be completed. Please try again.")
    return sse_event("error", {"message": message, "retryable": True})


async def _stop(task: asyncio.Task[None]) -> None:
    """Cancel the pump and wait (briefly) until it has closed the upstream."""
    if not task.done():
        task.cancel()
    done, _ = await asyncio.wait({task}, timeout=PUMP_EXIT_GRACE_SECONDS)
    if not done:
        logger.error("the chat pump ignored cancellation for %ss", PUMP_EXIT_GRACE_SECONDS)
    elif not task.cancelled() and task.exception() is not None:
        logger.warning("the chat pump failed while stopping", exc_info=task.exception())

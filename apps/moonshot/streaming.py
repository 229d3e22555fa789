"""Incremental parser for the provider's server-sent events (reference §5.3, §10.5).

Lines starting with ':' are comments (keep-alives) and are ignored; `data: [DONE]` ends the
stream; a `data:` payload with an `error` key becomes a MoonshotError mid-stream; events are
separated by a blank line and may carry several `data:` lines, which are joined with newlines.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator

from django.utils.translation import gettext_lazy as _

from .errors import MoonshotError, ServerError, from_response
from .types import StreamChunk

DONE = object()


def parse_event_data(payload: str) -> StreamChunk | object:
    """Turn one event's data into a chunk, DONE, or raise for an error payload."""
    if payload.strip() == "[DONE]":
        return DONE
    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise ServerError(f"Unparsable stream event: {payload[:200]!r}") from exc
    if isinstance(data, dict) and "error" in data:
        raise from_response(500, data)
    if not isinstance(data, dict):
        raise ServerError(f"Unexpected stream event: {payload[:200]!r}")
    return StreamChunk.from_json(data)


class SSEDecoder:
    """Feed it lines (without their newline); it returns the data of each completed event."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        if line == "":
            if not self._data:
                return None
            payload, self._data = "\n".join(self._data), []
            return payload
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        return None  # `event:`, `id:`, `retry:` carry nothing the provider uses

    def flush(self) -> str | None:
        return self.feed("")


def iter_chunks(lines: Iterable[str]) -> Iterator[StreamChunk]:
    decoder = SSEDecoder()
    for line in lines:
        payload = decoder.feed(line.rstrip("\r"))
        if payload is None:
            continue
        item = parse_event_data(payload)
        if item is DONE:
            return
        assert isinstance(item, StreamChunk)
        yield item
    _raise_truncated(decoder)


async def aiter_chunks(lines: AsyncIterator[str]) -> AsyncIterator[StreamChunk]:
    decoder = SSEDecoder()
    async for line in lines:
        payload = decoder.feed(line.rstrip("\r"))
        if payload is None:
            continue
        item = parse_event_data(payload)
        if item is DONE:
            return
        assert isinstance(item, StreamChunk)
        yield item
    _raise_truncated(decoder)


def _raise_truncated(decoder: SSEDecoder) -> None:
    payload = decoder.flush()
    if payload is not None and parse_event_data(payload) is DONE:
        return
    raise StreamInterrupted("The provider closed the stream before it finished.")


class StreamInterrupted(MoonshotError):
    """The connection ended without `[DONE]`: the answer so far is partial."""

    default_user_message = _("The answer was cut off by the AI provider. Please try again.")
    retryable = True

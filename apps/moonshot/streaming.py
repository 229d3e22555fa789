"""Incremental parser for the provider's server-sent events (reference §5.3, §10.5).

Lines starting with ':' are comments (keep-alives) and are ignored; `data: [DONE]` ends the
stream; a `data:` payload with an `error` key becomes a MoonshotError mid-stream; events are
separated by a blank line and may carry several `data:` lines, which are joined with newlines.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from django.utils.translation import gettext_lazy as _

from .errors import MoonshotError, ServerError, from_response
from .types import StreamChunk

DONE = object()


def parse_event_data(payload: bytes) -> StreamChunk | object:
    """Turn one event's data into a chunk, DONE, or raise for an error payload."""
    if payload.strip() == b"[DONE]":
        return DONE
    try:
        data = json.loads(payload)  # UTF-8 bytes, as the stream carries them
    except ValueError as exc:
        raise ServerError(f"Unparsable stream event: {_shown(payload)}") from exc
    if isinstance(data, dict) and "error" in data:
        raise from_response(500, data)
    if not isinstance(data, dict):
        raise ServerError(f"Unexpected stream event: {_shown(payload)}")
    return StreamChunk.from_json(data)


def _shown(payload: bytes) -> str:
    return repr(payload[:200].decode("utf-8", errors="replace"))


class SSEDecoder:
    """Feed it the body's bytes as they arrive; it returns the data of each completed event.

    Works on bytes: every line break the SSE format allows (CRLF, LF, CR) is ASCII, so a UTF-8
    character is never split across lines, and json.loads reads UTF-8 bytes itself. A CR at the
    very end of a piece is held back until the next piece says whether an LF follows it.
    """

    def __init__(self) -> None:
        self._rest = b""
        self._data: list[bytes] = []

    def feed(self, piece: bytes) -> list[bytes]:
        text = self._rest + piece
        if b"\r" in text:
            held = b"\r" if text.endswith(b"\r") else b""
            if held:
                text = text[:-1]
            text = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n") + held
        lines = text.split(b"\n")
        self._rest = lines.pop()
        return [payload for line in lines if (payload := self._line(line)) is not None]

    def flush(self) -> bytes | None:
        """At the end of the body: an unterminated last line still counts."""
        rest, self._rest = self._rest.removesuffix(b"\r"), b""
        if rest:
            self._line(rest)
        return self._line(b"")

    def _line(self, line: bytes) -> bytes | None:
        if not line:
            if not self._data:
                return None
            payload, self._data = b"\n".join(self._data), []
            return payload
        if line.startswith(b":"):
            return None
        field, _, value = line.partition(b":")
        if field == b"data":
            self._data.append(value[1:] if value.startswith(b" ") else value)
        return None  # `event:`, `id:`, `retry:` carry nothing the provider uses


async def aiter_chunks(body: AsyncIterator[bytes]) -> AsyncIterator[StreamChunk]:
    """The chunks of a streamed answer, from its body as it arrives; ends at `[DONE]`.

    Raises StreamInterrupted if the body ends without `[DONE]`, and a MoonshotError for an
    error event."""
    decoder = SSEDecoder()
    async for piece in body:
        for payload in decoder.feed(piece):
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

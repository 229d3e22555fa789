"""apps.moonshot.streaming: the provider's event stream, parsed from bytes as they arrive."""

from __future__ import annotations

import asyncio
import gzip
import json

import pytest

from apps.moonshot.client import AsyncMoonshotClient
from apps.moonshot.errors import MoonshotError
from apps.moonshot.streaming import SSEDecoder, StreamInterrupted, aiter_chunks

CHUNK = {"choices": [{"index": 0, "delta": {"content": "你好, world"}}], "model": "moonshot-v1-8k"}
EVENT = b"data: " + json.dumps(CHUNK, ensure_ascii=False).encode() + b"\n\n"


def _feed_all(pieces: list[bytes]) -> list[bytes]:
    decoder = SSEDecoder()
    out = [payload for piece in pieces for payload in decoder.feed(piece)]
    last = decoder.flush()
    return out + ([last] if last is not None else [])


def _bytewise(body: bytes) -> list[bytes]:
    return [body[i : i + 1] for i in range(len(body))]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_every_line_break_the_format_allows_whole_or_byte_by_byte(newline):
    body = (
        b": keep-alive"
        + newline
        + b"event: message"
        + newline
        + b"data: first"
        + newline
        + b"data:second"
        + newline
        + newline
        + b"data: \xe4\xbd\xa0\xe5\xa5\xbd"  # 你好, split between pieces when fed bytewise
        + newline
        + newline
    )
    expected = [b"first\nsecond", "你好".encode()]
    assert _feed_all([body]) == expected
    assert _feed_all(_bytewise(body)) == expected


def test_a_cr_at_the_end_of_a_piece_waits_for_the_next_piece():
    # "\r" then "\n": one line break, not an empty line that would end the event early.
    assert _feed_all([b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]) == [b"a\nb"]


def test_an_unterminated_last_event_is_kept_at_the_end():
    assert _feed_all([b"data: [DONE]"]) == [b"[DONE]"]
    assert _feed_all([b"data: x\n\n", b": bye\n"]) == [b"x"]


async def _chunks(pieces: list[bytes]) -> list[str]:
    async def body():
        for piece in pieces:
            yield piece

    return [chunk.text async for chunk in aiter_chunks(body())]


def test_chunks_end_at_done_and_a_stream_cut_before_it_is_interrupted():
    done = b"data: [DONE]\n\n"
    assert asyncio.run(_chunks(_bytewise(EVENT + done + EVENT))) == ["你好, world"]
    with pytest.raises(StreamInterrupted):
        asyncio.run(_chunks([EVENT]))


def test_an_error_event_mid_stream_and_garbage_are_provider_errors():
    error = {"error": {"type": "rate_limit_reached_error", "message": "slow down"}}
    with pytest.raises(MoonshotError):
        asyncio.run(_chunks([EVENT, b"data: " + json.dumps(error).encode() + b"\n\n"]))
    with pytest.raises(MoonshotError, match="Unparsable"):
        asyncio.run(_chunks([b"data: {not json\n\n"]))


def test_a_compressed_stream_is_decoded_before_parsing():
    """The raw fast path is only for an unencoded body: a gzip one (a proxy may add it) goes
    through httpx's decoder, so the answer is the same."""
    body = EVENT * 3 + b"data: [DONE]\n\n"

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = [
            int(x.split(b":")[1])
            for x in head.split(b"\r\n")
            if x.lower().startswith(b"content-length")
        ]
        await reader.readexactly(length[0] if length else 0)
        packed = gzip.compress(body)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-encoding: gzip\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(packed), packed)
        )
        await writer.drain()
        writer.close()

    async def main() -> list[str]:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            client = AsyncMoonshotClient(api_key="sk-test", base_url=f"http://127.0.0.1:{port}/v1")
            texts = []
            async for chunk in client.stream_chat(
                [{"role": "user", "content": "hi"}], model="moonshot-v1-8k"
            ):
                texts.append(chunk.text)
            await AsyncMoonshotClient._http().aclose()
            return texts

    assert asyncio.run(main()) == ["你好, world"] * 3

"""A deliberately small HTTP/1.1 client that POSTs and reads a server-sent-events reply.

The streaming benchmark keeps hundreds of streams open in one process on a 2-core machine, so
its client must cost little per chunk, or its own lag would be counted as the server's: plain
asyncio streams, chunked transfer decoding, SSE frames split on blank lines, and a
``time.monotonic()`` taken as each frame arrives. It reads the two replies the benchmark needs:
DocQA's chat events (``event: delta`` …) and the provider's chunks (``data: {…}``).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field


@dataclass
class Stream:
    status: int = 0
    started: float = 0.0
    first_byte: float | None = None  # the first byte of the body
    tokens: list[float] = field(default_factory=list)  # arrival of each piece of answer text
    events: dict[str, int] = field(default_factory=dict)
    text: str = ""
    error: str = ""

    @property
    def first_token(self) -> float | None:
        return self.tokens[0] if self.tokens else None


async def post_sse(
    port: int, path: str, body: bytes, headers: dict[str, str], *, provider: bool = False
) -> Stream:
    """POST ``body`` to 127.0.0.1:``port`` and read the whole event stream.

    ``provider``: the reply is the provider's (``data:`` chunks with ``choices[0].delta``)
    rather than DocQA's named events. Never raises for a failed request: ``error`` says why.
    """
    result = Stream(started=time.monotonic())
    writer = None
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**20)
        head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status_line = await reader.readline()
        result.status = int(status_line.split()[1])
        chunked = False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        if result.status != 200 or not chunked:
            result.error = (
                f"HTTP {result.status}: {(await reader.read(2000)).decode(errors='replace')}"
            )
            return result
        buffer = b""
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                break
            data = await reader.readexactly(size + 2)
            now = time.monotonic()
            if result.first_byte is None:
                result.first_byte = now
            buffer += data[:-2]
            *frames, buffer = buffer.split(b"\n\n")
            for frame in frames:
                _read_frame(result, frame.decode(), now, provider)
    except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as error:
        result.error = f"{type(error).__name__}: {error}"
    finally:
        if writer is not None:
            writer.close()
    return result


def _read_frame(result: Stream, frame: str, now: float, provider: bool) -> None:
    name, data = "message", []
    for line in frame.split("\n"):
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if not data:
        return  # a comment (": open", ": ping")
    payload = "\n".join(data)
    if provider:
        if payload == "[DONE]":
            result.events["done"] = 1
            return
        choices = json.loads(payload).get("choices") or [{}]
        piece = (choices[0].get("delta") or {}).get("content") or ""
        name = "delta" if piece else "chunk"
    else:
        piece = json.loads(payload).get("text", "") if name == "delta" else ""
        if name == "error":
            result.error = payload
    result.events[name] = result.events.get(name, 0) + 1
    if piece:
        result.tokens.append(now)
        result.text += piece

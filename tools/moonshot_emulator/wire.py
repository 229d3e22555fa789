"""Response bodies on the wire: compact JSON, the provider's error shape, the gateway 404 body
and a server-sent-events response that notices when the client goes away.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

JSON_TYPE = "application/json; charset=utf-8"
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def dumps(body: Any) -> str:
    """Compact JSON with non-ASCII kept, as the provider sends it. A lone surrogate (extracted
    from a broken font or a CESU-8 file) cannot travel as UTF-8, so it goes as a ``\\ud800``
    escape, which is valid JSON and what a JSON encoder sends for it."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    if _SURROGATE.search(text):
        text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(body), status_code=status, headers=headers, media_type=JSON_TYPE)


def error_response(
    status: int, error_type: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    """`{"error":{"message":…,"type":…}}`, no code/param (reference §4.1)."""
    if status in (429, 503):
        headers = {"retry-after": "1", "x-retry-after": "1", **(headers or {})}
    return json_response({"error": {"message": message, "type": error_type}}, status, headers)


def invalid_request(message: str) -> Response:
    return error_response(400, "invalid_request_error", message)


def gateway_not_found(method: str, path: str, user_agent: str) -> Response:
    """The non-standard body the provider's gateway gave for unknown routes (reference §4.1);
    its status was not recorded, 404 is the reference's guess."""
    return json_response(
        {
            "code": 5,
            "error": "url.not_found",
            "message": "没找到对象",
            "method": method,
            "scode": "0x5",
            "status": False,
            "ua": user_agent,
            "url": path,
        },
        404,
    )


DROP = b""  # yielded by an event source: close the connection now, without finishing


class EventStreamResponse(Response):
    """Streams `events` as `text/event-stream`.

    A second task waits for the client's `http.disconnect`; if it comes before the stream ends,
    `on_disconnect` is called and the stream stops (the provider stops generating, and tests
    check the emulator saw the client leave). An event equal to `DROP` ends the response without
    its final chunk, so the client sees a connection cut mid-stream.
    """

    media_type = None  # set below without Starlette's "; charset=utf-8", as the provider sends it

    def __init__(
        self,
        events: AsyncIterator[bytes],
        on_disconnect: Callable[[], None],
        on_drop: Callable[[], None],
        headers: dict[str, str] | None = None,
    ) -> None:
        self.events = events
        self.on_disconnect = on_disconnect
        self.on_drop = on_drop
        self.status_code = 200
        self.background = None
        self.init_headers(
            {"content-type": "text/event-stream", "cache-control": "no-cache", **(headers or {})}
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        finished = False

        async def watch(cancel: anyio.CancelScope) -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    break
            if not finished:
                self.on_disconnect()
                cancel.cancel()

        async with anyio.create_task_group() as group:
            group.start_soon(watch, group.cancel_scope)
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            try:
                async for event in self.events:
                    if event == DROP:
                        finished = True
                        self.on_drop()
                        group.cancel_scope.cancel()
                        return
                    await send({"type": "http.response.body", "body": event, "more_body": True})
                finished = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            except OSError:  # the transport went away under a write
                if not finished:
                    finished = True
                    self.on_disconnect()
            finally:
                group.cancel_scope.cancel()
                with anyio.CancelScope(shield=True):
                    await _aclose(self.events)


async def _aclose(events: AsyncIterator[bytes]) -> None:
    close = getattr(events, "aclose", None)
    if close is not None:
        await close()

"""The Moonshot emulator as its own process, with a clock on every chat chunk it sends.

Same command line as ``python -m tools.moonshot_emulator``; the emulator itself is unchanged.
An ASGI wrapper around it notes, for each ``POST /v1/chat/completions``, the ``time.monotonic()``
at which each body frame of the answer was handed to the server (the role chunk, every content
chunk, the finish chunk, ``[DONE]``), keyed by the ``[bench-N]`` tag in the request's last
message. CLOCK_MONOTONIC is one clock for every process on a Linux machine, so a benchmark can
subtract these times from the times at which its own client saw the same chunks arrive.

    GET /_bench/stamps      {"tag": [t0, t1, …], …}, then forgets them
    GET /_bench/last-body   the raw body of the last chat request (to replay it directly)
    GET /_bench/cpu         {"seconds": CPU time this process has used}
"""

from __future__ import annotations

import json
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tools.moonshot_emulator.__main__ import main as emulator_main

_TAG = re.compile(r"\[(bench-[0-9]+)\]")


class StampChatChunks:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.stamps: dict[str, list[float]] = {}
        self.last_body = b""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(("/_bench/", "/v1/chat/completions")):
            await self.app(scope, receive, send)
        elif path == "/_bench/stamps":
            stamps, self.stamps = self.stamps, {}
            await _reply(send, json.dumps(stamps).encode())
        elif path == "/_bench/last-body":
            await _reply(send, self.last_body)
        elif path == "/_bench/cpu":
            await _reply(send, json.dumps({"seconds": time.process_time()}).encode())
        else:
            await self._chat(scope, receive, send)

    async def _chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        body: list[bytes] = []
        times: list[float] = []

        async def receive_noting_body() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                body.append(message.get("body", b""))
            return message

        async def send_stamped(message: Message) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                times.append(time.monotonic())
            await send(message)

        try:
            await self.app(scope, receive_noting_body, send_stamped)
        finally:
            raw = b"".join(body)
            self.last_body = raw
            tag = _tag(raw)
            if tag:
                self.stamps[tag] = times


def _tag(raw: bytes) -> str | None:
    try:
        messages = json.loads(raw)["messages"]
        found = _TAG.search(str(messages[-1]["content"]))
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return found.group(1) if found else None


async def _reply(send: Send, payload: bytes) -> None:
    headers: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def main(argv: list[str] | None = None) -> None:
    emulator_main(argv, wrap=StampChatChunks, backlog=4096)


if __name__ == "__main__":
    main()

"""`POST /v1/chat/completions` and `POST /v1/tokenizers/estimate-token-count`.

Validation order: JSON body, model (404 when unknown), messages, temperature, n, max_tokens, then
the context window, then TPM/TPD admission. Texts marked "observed" in reference §4.2 are used
verbatim; the others (bad JSON, bad n, bad max_tokens, bad role) are not documented anywhere and
are invented in the provider's `Invalid request: …` style.
"""

from __future__ import annotations

import functools
import json
import math
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response

from apps.moonshot.tokens import estimate_messages_tokens, estimate_tokens
from tools.moonshot_emulator import wire
from tools.moonshot_emulator.answer import derive_answer
from tools.moonshot_emulator.config import EmulatorConfig
from tools.moonshot_emulator.faults import Faults
from tools.moonshot_emulator.state import State

ROLES = frozenset({"system", "user", "assistant", "tool", "cache"})


@functools.lru_cache(maxsize=64)
def _text_tokens(text: str) -> int:
    """`estimate_tokens`, remembered: a knowledge-base chat sends the same long documents in
    every request, and estimating 100k tokens of them takes the emulator about 30 ms of CPU
    per request, twice (prompt and cached prefix). The counts are the same either way."""
    return estimate_tokens(text)


def _messages_tokens(messages: Any, config: EmulatorConfig) -> int:
    """The prompt tokens the provider counts: DocQA's own estimate times `token_scale`, so a
    test can play a provider whose tokenizer counts more (or fewer) than the app estimates."""
    count = estimate_messages_tokens(messages, estimate=_text_tokens)
    return count if config.token_scale == 1.0 else math.ceil(count * config.token_scale)


@dataclass(frozen=True)
class ChatRequest:
    model: str
    window: int
    messages: list[dict[str, Any]]
    n: int
    max_tokens: int
    stream: bool
    include_usage: bool
    prompt_tokens: int


async def read_json(request: Request) -> dict[str, Any] | Response:
    try:
        body = json.loads(await request.body())
    except ValueError:
        return wire.invalid_request("Invalid request: the request body is not valid JSON")
    if not isinstance(body, dict):
        return wire.invalid_request("Invalid request: the request body must be a JSON object")
    return body


def check_model(body: Mapping[str, Any], config: EmulatorConfig) -> int | Response:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return wire.invalid_request("Invalid request: model is required")
    window = config.models.get(model)
    if window is None:
        return wire.error_response(
            404, "resource_not_found_error", f"Not found the model {model} or Permission denied"
        )
    return window


def check_messages(body: Mapping[str, Any]) -> list[dict[str, Any]] | Response:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return wire.invalid_request("Invalid request: messages must not be empty")  # observed
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ROLES:
            return wire.invalid_request(
                f"Invalid request: the message at position {i} has an invalid role"
            )
        content = message.get("content")
        if not content and not (role == "assistant" and message.get("tool_calls")):
            return wire.invalid_request(  # observed (FastGPT #3575)
                f"Invalid request: the message at position {i} with role '{role}' must not be empty"
            )
    return messages


def parse_chat(body: Mapping[str, Any], config: EmulatorConfig) -> ChatRequest | Response:
    window = check_model(body, config)
    if isinstance(window, Response):
        return window
    messages = check_messages(body)
    if isinstance(messages, Response):
        return messages
    model = body["model"]
    temperature = body.get("temperature")
    if temperature is not None:
        if isinstance(temperature, bool) or not isinstance(temperature, int | float):
            return wire.invalid_request("Invalid request: temperature must be a number")
        if model.startswith("moonshot-v1") and not 0 <= temperature <= 1:
            return wire.invalid_request(
                "invalid temperature: only values in [0, 1] are allowed for this model"
            )
    n = body.get("n", 1) if body.get("n") is not None else 1
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 5:
        return wire.invalid_request("Invalid request: n must be an integer between 1 and 5")
    max_tokens = body.get("max_completion_tokens")  # the newer name wins (reference §5.1)
    if max_tokens is None:
        max_tokens = body.get("max_tokens")
    if max_tokens is None:
        max_tokens = config.default_max_tokens
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        return wire.invalid_request("Invalid request: max_tokens must be a positive integer")
    prompt_tokens = _messages_tokens(messages, config)
    if prompt_tokens > window:
        return wire.invalid_request("Input token length too long")
    if prompt_tokens + max_tokens > window:
        if config.token_limit_style == "documented":  # noqa: S105 (not a password)
            return wire.invalid_request(f"Your request exceeded model token limit : {window}")
        return wire.invalid_request(
            "Invalid request: Your request exceeded model token limit: "
            f"{window} (requested: {prompt_tokens + max_tokens})"
        )
    options = body.get("stream_options")
    return ChatRequest(
        model=model,
        window=window,
        messages=messages,
        n=n,
        max_tokens=max_tokens,
        stream=bool(body.get("stream")),
        include_usage=isinstance(options, dict) and bool(options.get("include_usage")),
        prompt_tokens=prompt_tokens,
    )


async def chat_completions(
    request: Request, config: EmulatorConfig, state: State, faults: Faults
) -> Response:
    body = await read_json(request)
    if isinstance(body, Response):
        return body
    chat = parse_chat(body, config)
    if isinstance(chat, Response):
        return chat
    refused = state.charge_tokens(config, chat.prompt_tokens + chat.max_tokens)
    if refused:
        return wire.error_response(429, "rate_limit_reached_error", refused)
    cached_messages = state.cached_prefix_length(chat.model, chat.messages)
    cached = (
        min(_messages_tokens(chat.messages[:cached_messages], config), chat.prompt_tokens)
        if cached_messages
        else 0
    )
    answer = faults.answer_override
    if answer is None:
        answer = derive_answer(chat.messages)
    answer, finish_reason = truncate(answer, chat.max_tokens)
    completion = estimate_tokens(answer) * chat.n
    usage = {
        "prompt_tokens": chat.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": chat.prompt_tokens + completion,
        "cached_tokens": cached,
    }
    pieces = split(answer, config.chunk_chars)
    completion_id = f"cmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if not chat.stream:
        await anyio.sleep(config.first_token_delay + config.chunk_delay * max(len(pieces) - 1, 0))
        return wire.json_response(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": chat.model,
                "choices": [
                    {
                        "index": i,
                        "message": {"role": "assistant", "content": answer},
                        "finish_reason": finish_reason,
                    }
                    for i in range(chat.n)
                ],
                "usage": usage,
            }
        )
    events = stream_events(
        chat, config, faults.take_drop(), pieces, finish_reason, usage, completion_id, created
    )
    return wire.EventStreamResponse(events, state.note_stream_disconnect, state.note_stream_dropped)


async def stream_events(
    chat: ChatRequest,
    config: EmulatorConfig,
    drop_after: int | None,
    pieces: list[str],
    finish_reason: str,
    usage: dict[str, int],
    completion_id: str,
    created: int,
) -> AsyncIterator[bytes]:
    """The SSE events of reference §5.3: role chunk, content chunks, a final chunk with an empty
    delta, finish_reason and usage inside choices[0], an optional usage-only chunk, [DONE].
    `config.stream_usage == "trailing"` moves usage to the usage-only chunk alone."""
    trailing_usage = chat.include_usage or config.stream_usage == "trailing"
    extra = {"usage": None} if trailing_usage else {}
    comment = ": keep-alive\n" if config.stream_comments else ""

    def event(choices: list[dict[str, Any]], **more: Any) -> bytes:
        chunk = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": chat.model,
            "choices": choices,
            **(more or extra),
        }
        return f"{comment}data: {wire.dumps(chunk)}\n\n".encode()

    await anyio.sleep(config.first_token_delay)
    sent = 0
    for index in range(chat.n):
        yield event(
            [{"index": index, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
        )
        for piece in pieces:
            if drop_after is not None and sent >= drop_after:
                yield wire.DROP
                return
            if sent:
                await anyio.sleep(config.chunk_delay)
            yield event([{"index": index, "delta": {"content": piece}, "finish_reason": None}])
            sent += 1
        final = {"index": index, "delta": {}, "finish_reason": finish_reason}
        if index == chat.n - 1 and config.stream_usage == "choice":
            final["usage"] = usage
        yield event([final])
    if drop_after is not None:
        yield wire.DROP
        return
    if trailing_usage:
        yield event([], usage=usage)
    yield f"{comment}data: [DONE]\n\n".encode()


def truncate(answer: str, max_tokens: int) -> tuple[str, str]:
    """Cut the answer to at most `max_tokens` estimated tokens; finish_reason "length" if cut."""
    if estimate_tokens(answer) <= max_tokens:
        return answer, "stop"
    low, high = 0, len(answer)
    while low < high:  # longest prefix that fits
        middle = (low + high + 1) // 2
        if estimate_tokens(answer[:middle]) <= max_tokens:
            low = middle
        else:
            high = middle - 1
    return answer[:low], "length"


def split(text: str, size: int) -> list[str]:
    size = max(size, 1)
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


async def estimate_token_count(request: Request, config: EmulatorConfig) -> Response:
    """`{"data":{"total_tokens":N}}` with the same count chat admission uses (reference §8)."""
    body = await read_json(request)
    if isinstance(body, Response):
        return body
    window = check_model(body, config)
    if isinstance(window, Response):
        return window
    messages = check_messages(body)
    if isinstance(messages, Response):
        return messages
    return wire.json_response({"data": {"total_tokens": _messages_tokens(messages, config)}})

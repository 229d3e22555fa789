"""A workspace as an OpenAI-compatible model: /api/openai/v1/models and /chat/completions.

Any client that speaks OpenAI's chat API (the official SDK, chat front-ends, IDE plugins) can
point its base URL at /api/openai/v1 with a DocQA API key. The model `docqa/<workspace-slug>`
is the key's workspace. The request's last user message is the question and the user and
assistant turns before it are the history; the client's own system messages are left out,
because the workspace's ready documents, as the chat page builds them (context builder, token
budget, citation and quotation checks), are the system messages. Each request is kept as a
conversation of its own, so it shows in the workspace's usage and counts against its daily
token limit. `stream`, `max_tokens` (capped by the model's room), `temperature`, `top_p`,
`stop` and the penalties are honoured. OpenAI's temperature runs from 0 to 2, Moonshot's from 0
to 1 (reference §5.1): a higher one is sent as 1, the provider's most varied, instead of failing
the answer. One choice per request (`n` must be 1), and no function calling (`tools`): a request
asking for either is refused with a 400 that says so, never silently answered otherwise. A
request refused before its answer starts (a daily limit reached) leaves no conversation behind.

Errors use OpenAI's shape, `{"error": {"message", "type", "code"}}` (what the SDKs read), with
the API's `code` and `message` beside it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.translation import gettext as _
from ninja import Field, NinjaAPI, Schema
from ninja.errors import AuthenticationError, ValidationError

from apps.chat import services
from apps.chat.context import History
from apps.chat.services import PreparedTurn
from apps.chat.streaming import stream_turn
from apps.chat.views import SSE_HEADERS
from apps.core.db import release_db_connections
from apps.moonshot.admission import Priority

from . import answers
from .auth import ApiRequest, KeyAuth
from .errors import ApiError
from .v1.conversations import chat_error

MODEL_PREFIX = "docqa/"
MAX_STOPS, MAX_STOP_BYTES = 5, 32  # the provider's limits (reference §5.1)

api = NinjaAPI(
    title="DocQA OpenAI-compatible API",
    version="1",
    auth=KeyAuth(),
    urls_namespace="openai",
    docs_url=None,
)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Any:
    kind = {401: "authentication_error", 404: "not_found_error", 429: "rate_limit_error"}
    body = {
        "error": {
            "message": str(message),
            "type": kind.get(status, "invalid_request_error"),
            "code": code,
        },
        "code": code,
        "message": str(message),
    }
    response = JsonResponse(body, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, error: ApiError) -> HttpResponse:
    return _error(error.status, error.code, error.message, error.headers)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, error: AuthenticationError) -> HttpResponse:
    return _error(401, "missing_key", _("Send an API key: Authorization: Bearer <key>."))


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, error: ValidationError) -> HttpResponse:
    return _error(400, "invalid_input", json.dumps(error.errors, default=str)[:500])


class ChatMessage(Schema):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None


class CompletionIn(Schema):
    model: str
    messages: list[ChatMessage]
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    stop: str | list[str] | None = None
    n: int | None = None
    tools: list[dict[str, Any]] | None = None
    stream_options: dict[str, Any] | None = None

    def sampling(self) -> dict[str, Any]:
        """What goes upstream as it is; raises ApiError for what DocQA cannot honour."""
        if self.n not in (None, 1):
            raise ApiError(
                400, "unsupported", _("DocQA answers with one choice per request: n must be 1.")
            )
        if self.tools:
            raise ApiError(
                400,
                "unsupported",
                _("DocQA models answer from documents; tools are not supported."),
            )
        stops = [self.stop] if isinstance(self.stop, str) else (self.stop or [])
        if len(stops) > MAX_STOPS or any(len(s.encode()) > MAX_STOP_BYTES for s in stops):
            raise ApiError(
                400,
                "invalid_input",
                _("stop takes at most %(n)d strings of at most %(bytes)d bytes each.")
                % {"n": MAX_STOPS, "bytes": MAX_STOP_BYTES},
            )
        sampling: dict[str, Any] = {
            "temperature": None if self.temperature is None else min(self.temperature, 1.0),
            "top_p": self.top_p,
            "presence_penalty": self.presence_penalty,
            "frequency_penalty": self.frequency_penalty,
            "stop": stops or None,
        }
        return {name: value for name, value in sampling.items() if value is not None}


def _model_id(request: ApiRequest) -> str:
    return MODEL_PREFIX + request.workspace.slug


@api.get("/models")
def models(request: ApiRequest) -> Any:
    key = request.api_key
    return {
        "object": "list",
        "data": [
            {
                "id": _model_id(request),
                "object": "model",
                "created": int(key.workspace.created_at.timestamp()),
                "owned_by": "docqa",
            }
        ],
    }


def _text(message: ChatMessage) -> str:
    if isinstance(message.content, list):  # content parts: the text ones
        return "".join(p.get("text", "") for p in message.content if p.get("type") == "text")
    return message.content or ""


def _question_and_history(body: CompletionIn) -> tuple[str, History]:
    turns: History = [
        (m.role, _text(m)) for m in body.messages if m.role == "user" or m.role == "assistant"
    ]
    if not turns or turns[-1][0] != "user":
        raise ApiError(400, "invalid_input", _("The last message must be the user's question."))
    return turns[-1][1], turns[:-1]


def _start(request: ApiRequest, body: CompletionIn) -> PreparedTurn:
    if body.model != _model_id(request):
        raise ApiError(
            404, "model_not_found", _("No such model: %(model)s.") % {"model": body.model}
        )
    question, history = _question_and_history(body)
    sampling = body.sampling()
    membership = request.membership
    conversation = services.create_conversation(workspace=request.workspace, user=membership.user)
    try:
        turn = services.start_turn(
            conversation=conversation, membership=membership, question=question, history=history
        )
    except services.ChatError as error:
        # Refused before an answer began (e.g. the daily limit): keep no empty conversation.
        # Not one transaction instead: planning may ask the provider to count tokens.
        conversation.delete()
        raise chat_error(error) from error
    finally:
        release_db_connections()
    turn.priority = Priority.API
    turn.sampling = sampling
    wanted = body.max_completion_tokens or body.max_tokens
    if wanted is not None:
        turn.plan.max_tokens = min(turn.plan.max_tokens, wanted)
    return turn


@api.post("/chat/completions")
async def chat_completions(request: ApiRequest, body: CompletionIn) -> Any:
    turn = await sync_to_async(_start)(request, body)
    completion = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if body.stream:
        include_usage = bool((body.stream_options or {}).get("include_usage"))
        chunks = _chunks(turn, completion, created, body.model, include_usage)
        return StreamingHttpResponse(
            chunks, content_type="text/event-stream", charset="utf-8", headers=SSE_HEADERS
        )
    summary = answers.Summary()
    async for name, data in answers.events(stream_turn(turn)):
        summary.add(name, data)
    if summary.error is not None:
        return _error(502, "answer_failed", summary.error.get("message", ""))
    return {
        "id": completion,
        "object": "chat.completion",
        "created": created,
        "model": body.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": summary.text},
                "finish_reason": _finish_reason(turn, summary),
            }
        ],
        "usage": _usage(summary),
        "docqa": {"sources": summary.sources, "quotes": summary.quotes},
    }


def _finish_reason(turn: PreparedTurn, summary: answers.Summary) -> str:
    completion = (summary.usage or {}).get("completion_tokens") or 0
    return "length" if completion >= turn.plan.max_tokens else "stop"


def _usage(summary: answers.Summary) -> dict[str, int]:
    usage = summary.usage or {}
    prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


async def _chunks(
    turn: PreparedTurn, completion: str, created: int, model: str, include_usage: bool
) -> AsyncIterator[str]:
    """The browser's stream retold as OpenAI chunks, then `data: [DONE]`."""

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        data = {
            "id": completion,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    summary = answers.Summary()
    async for name, data in answers.events(stream_turn(turn)):
        summary.add(name, data)
        if name == "delta":
            yield chunk({"content": data["text"]})
        elif name == "error":
            error = {
                "message": data.get("message", ""),
                "type": "api_error",
                "code": "answer_failed",
            }
            yield f"data: {json.dumps({'error': error}, ensure_ascii=False)}\n\n"
            return
    yield chunk({}, _finish_reason(turn, summary), docqa={"sources": summary.sources})
    if include_usage:
        data = {
            "id": completion,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": _usage(summary),
        }
        yield f"data: {json.dumps(data)}\n\n"
    yield "data: [DONE]\n\n"

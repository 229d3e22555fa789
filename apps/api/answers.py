"""One answer for a program: the browser's SSE stream (apps.chat.streaming) as it is, or read to
the end and summed up as JSON. The stream is the one source: events are parsed back, so the
JSON answer has exactly what the browser was told (text, sources, quotation checks, usage)."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

from apps.chat.models import Message, Role

Event = tuple[str, Any]


async def events(frames: AsyncGenerator[str, None]) -> AsyncIterator[Event]:
    """(event name, parsed data) for each SSE frame of `frames`; comments are skipped."""
    buffer = ""
    async with aclosing(frames) as stream:
        async for chunk in stream:
            buffer += chunk
            while "\n\n" in buffer:
                frame, buffer = buffer.split("\n\n", 1)
                name, data = "message", []
                for line in frame.split("\n"):
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        data.append(line[6:])
                if data:
                    raw = "\n".join(data)
                    try:
                        yield name, json.loads(raw)
                    except ValueError:
                        yield name, raw


class Summary:
    """What a stream said, gathered event by event."""

    def __init__(self) -> None:
        self.text = ""
        self.model = ""
        self.sources: list[dict[str, Any]] = []
        self.quotes: list[dict[str, Any]] = []
        self.usage: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None
        self.done = False

    def add(self, name: str, data: Any) -> None:
        if name == "delta":
            self.text += data["text"]
        elif name == "meta":
            self.model, self.sources = data.get("model", ""), data.get("sources", [])
        elif name == "sources":
            self.sources = data["sources"]
        elif name == "quotes":
            self.quotes = data["checks"]
        elif name == "usage":
            self.usage = data
            self.model = data.get("model") or self.model
        elif name == "error":
            self.error = data
        elif name == "done":
            self.done = True

    def as_json(self, **ids: Any) -> dict[str, Any]:
        return {
            **ids,
            "status": "complete" if self.done else "failed",
            "text": self.text,
            "model": self.model,
            "sources": self.sources,
            "quotes": self.quotes,
            "usage": self.usage,
            "error": self.error,
        }


def stored_answer(question_id: int) -> dict[str, Any] | None:
    """The answer to a saved question as `Summary.as_json` shapes it (for a repeated request)."""
    question = Message.objects.filter(pk=question_id).first()
    if question is None:
        return None
    answer = (
        Message.objects.filter(
            conversation_id=question.conversation_id,
            role=Role.ASSISTANT,
            created_at__gt=question.created_at,
        )
        .order_by("created_at")
        .first()
    )
    base = {"conversation_id": question.conversation_id, "question_id": question.pk}
    if answer is None:
        return {**base, "answer_id": None, "status": "streaming", "text": ""}
    return {
        **base,
        "answer_id": answer.pk,
        "status": answer.status,
        "text": answer.content,
        "model": answer.model,
        "sources": answer.sources,
        "quotes": answer.quotes,
        "usage": {
            "model": answer.model,
            "prompt_tokens": answer.prompt_tokens,
            "cached_tokens": answer.cached_tokens,
            "completion_tokens": answer.completion_tokens,
            "cost_cny": str(answer.cost_cny),
        },
        "error": {"message": answer.error_message, "retryable": answer.retryable}
        if answer.error_message
        else None,
    }

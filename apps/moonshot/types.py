"""Typed results of provider calls, parsed leniently from the JSON shapes in the reference.

Parsing is lenient on purpose (like the openai SDK's `construct`): unknown fields are ignored, and
the fields that moved between API generations (`usage` in `choices[0]` or at the top level,
`cached_tokens` at the top level of usage or under `prompt_tokens_details`) are read from
wherever they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RemoteFile:
    id: str
    filename: str
    bytes: int
    status: str  # "ok" (extracted) or "error" (extraction failed); "ready" in one 2026 doc
    status_details: str
    created_at: int
    purpose: str

    @property
    def failed(self) -> bool:
        return self.status == "error"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RemoteFile:
        return cls(
            id=str(data.get("id", "")),
            filename=str(data.get("filename", "")),
            bytes=int(data.get("bytes") or 0),
            status=str(data.get("status", "")),
            status_details=str(data.get("status_details") or ""),
            created_at=int(data.get("created_at") or 0),
            purpose=str(data.get("purpose", "")),
        )


@dataclass(frozen=True)
class FileContent:
    """`raw` is the body exactly as received: the provider recommends passing it on unparsed."""

    raw: str
    content: str
    filename: str
    file_type: str
    title: str

    @classmethod
    def from_raw(cls, raw: str) -> FileContent:
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        # The 2026 OpenAPI says text/plain: a body that is not the JSON envelope is the text
        # itself (even when that text is JSON, as an extracted .json file would be).
        if not isinstance(data, dict) or not isinstance(data.get("content"), str):
            return cls(raw=raw, content=raw, filename="", file_type="", title="")
        return cls(
            raw=raw,
            content=str(data.get("content") or ""),
            filename=str(data.get("filename") or ""),
            file_type=str(data.get("file_type") or ""),
            title=str(data.get("title") or ""),
        )


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0  # included in prompt_tokens

    @classmethod
    def from_json(cls, data: Any) -> Usage | None:
        if not isinstance(data, dict):
            return None
        cached = data.get("cached_tokens")
        if cached is None:
            details = data.get("prompt_tokens_details")
            cached = details.get("cached_tokens") if isinstance(details, dict) else 0
        prompt = int(data.get("prompt_tokens") or 0)
        completion = int(data.get("completion_tokens") or 0)
        return cls(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=int(data.get("total_tokens") or prompt + completion),
            cached_tokens=int(cached or 0),
        )


@dataclass(frozen=True)
class ChatResult:
    id: str
    model: str
    content: str
    finish_reason: str
    usage: Usage | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChatResult:
        choice = (data.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        usage = Usage.from_json(data.get("usage")) or Usage.from_json(choice.get("usage"))
        return cls(
            id=str(data.get("id", "")),
            model=str(data.get("model", "")),
            content=str(message.get("content") or ""),
            finish_reason=str(choice.get("finish_reason") or ""),
            usage=usage,
        )


@dataclass(frozen=True)
class StreamChunk:
    """One parsed `data:` event. `text` is the content delta ("" for role/usage-only chunks)."""

    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StreamChunk:
        choices = data.get("choices") or []
        choice = choices[0] if choices else {}
        delta = choice.get("delta") or {}
        # Moonshot puts usage in choices[0] of the finish chunk; OpenAI-style include_usage adds a
        # trailing top-level usage chunk. Either one is the whole request's usage.
        usage = Usage.from_json(choice.get("usage")) or Usage.from_json(data.get("usage"))
        return cls(
            text=str(delta.get("content") or ""),
            finish_reason=choice.get("finish_reason"),
            usage=usage,
            model=str(data.get("model", "")),
        )


@dataclass(frozen=True)
class ModelEntry:
    id: str
    context_length: int | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelEntry:
        length = data.get("context_length")
        return cls(id=str(data.get("id", "")), context_length=int(length) if length else None)

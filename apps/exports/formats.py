"""One conversation as Markdown (to read) and as JSON (to process), from rows already loaded.

The JSON schema is versioned by its "schema" key, ``docqa.conversation/1``. Within version 1
keys are only ever added, never renamed, removed or retyped; a change that breaks readers gets
version 2. Version 1::

    {
      "schema": "docqa.conversation/1",
      "exported_at": ISO 8601 datetime (UTC),
      "id": int, "title": str,
      "workspace": {"id": int, "slug": str, "name": str},
      "created_by": {"id": int, "email": str} | null,
      "model_choice": "auto" | model id,
      "scope_all": bool,            # false: only "documents" are in scope
      "documents": [{"id": int, "name": str}],
      "created_at": ISO datetime, "updated_at": ISO datetime,
      "messages": [{
        "id": int, "role": "user" | "assistant",
        "author": {"id": int, "email": str} | null,
        "content": str,
        "status": "complete" | "streaming" | "stopped" | "failed" | "interrupted",
        "error_message": str, "model": str, "offline": bool,
        "created_at": ISO datetime, "finished_at": ISO datetime | null, "ttft_ms": int | null,
        "usage": {"prompt_tokens": int, "cached_tokens": int, "completion_tokens": int,
                  "cost_cny": decimal as a string, e.g. "0.001250"},
        "sources": [{"id": int | null, "name": str, "narrowed": bool, "cited": bool}],
        "quotes": [{"quote": str, "document": str, "found": bool}]
      }]
    }

Questions carry empty usage and sources. Answers saved before `cited` was recorded list every
source with "cited": true (what the page shows for them too).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.chat.models import Conversation, Message, Role, Status

SCHEMA = "docqa.conversation/1"


def _when(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _person(user: User | None) -> dict[str, Any] | None:
    return None if user is None else {"id": user.pk, "email": user.email}


def _source(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": entry.get("id"),
        "name": str(entry.get("name", "")),
        "narrowed": bool(entry.get("narrowed", False)),
        "cited": bool(entry.get("cited", True)),
    }


def _quote(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "quote": str(entry.get("quote", "")),
        "document": str(entry.get("document", "")),
        "found": bool(entry.get("found", False)),
    }


def message_data(message: Message) -> dict[str, Any]:
    return {
        "id": message.pk,
        "role": message.role,
        "author": _person(message.author),
        "content": message.content,
        "status": message.status,
        "error_message": message.error_message,
        "model": message.model,
        "offline": message.offline,
        "created_at": _when(message.created_at),
        "finished_at": _when(message.finished_at),
        "ttft_ms": message.ttft_ms,
        "usage": {
            "prompt_tokens": message.prompt_tokens,
            "cached_tokens": message.cached_tokens,
            "completion_tokens": message.completion_tokens,
            "cost_cny": f"{message.cost_cny:.6f}",
        },
        "sources": [_source(s) for s in message.sources if isinstance(s, dict)],
        "quotes": [_quote(q) for q in message.quotes if isinstance(q, dict)],
    }


def conversation_data(
    conversation: Conversation, messages: Sequence[Message], documents: Sequence[Any]
) -> dict[str, Any]:
    """The JSON document (schema above). `documents`: the chosen ones (id and name)."""
    workspace = conversation.workspace
    return {
        "schema": SCHEMA,
        "exported_at": _when(timezone.now()),
        "id": conversation.pk,
        "title": conversation.title,
        "workspace": {"id": workspace.pk, "slug": workspace.slug, "name": workspace.name},
        "created_by": _person(conversation.created_by),
        "model_choice": conversation.model_choice,
        "scope_all": conversation.scope_all,
        "documents": [{"id": d.pk, "name": d.name} for d in documents],
        "created_at": _when(conversation.created_at),
        "updated_at": _when(conversation.updated_at),
        "messages": [message_data(m) for m in messages],
    }


def _usage_line(message: Message) -> str:
    return _(
        "Usage: %(model)s · %(prompt)s prompt tokens (%(cached)s cached) · "
        "%(completion)s answer tokens · ¥%(cost)s"
    ) % {
        "model": message.model or _("no model"),
        "prompt": f"{message.prompt_tokens:,}",
        "cached": f"{message.cached_tokens:,}",
        "completion": f"{message.completion_tokens:,}",
        "cost": f"{message.cost_cny:.6f}",
    }


def _answer_lines(message: Message) -> list[str]:
    lines = [f"### {_('Answer')}", "", message.content or _("(no text)"), ""]
    if message.status not in (Status.COMPLETE, Status.STREAMING) or message.error_message:
        note = message.get_status_display()
        if message.error_message:
            note = f"{note}: {message.error_message}"
        lines += [f"> {note}", ""]
    cited = ", ".join(_source(s)["name"] for s in message.cited_sources)
    others = ", ".join(_source(s)["name"] for s in message.other_sources)
    if cited:
        lines.append(_("Sources: %(names)s") % {"names": cited} + "  ")
    if others:
        lines.append(_("Also in scope, not used: %(names)s") % {"names": others} + "  ")
    lines += [_usage_line(message), ""]
    return lines


def conversation_markdown(conversation: Conversation, messages: Sequence[Message]) -> str:
    """Title, then each question and its answer with the answer's sources and usage."""
    lines = [f"# {conversation}", ""]
    lines += [
        _("Workspace: %(name)s · started %(when)s")
        % {"name": conversation.workspace.name, "when": _when(conversation.created_at)},
        "",
    ]
    for message in messages:
        if message.role == Role.USER:
            lines += [f"## {_('Question')}", "", message.content, ""]
        else:
            lines += _answer_lines(message)
    return "\n".join(lines).rstrip("\n") + "\n"

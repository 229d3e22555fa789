"""The zip of a workspace's conversations, written into any binary file.

It holds, per conversation, `conversations/<id>-<title>.md` and `.json` (apps.exports.formats),
plus `index.json` (schema ``docqa.workspace-export/1``: the workspace and, per conversation, its
id, title, message count and the two file names) and `index.md` (the same as a list to read).
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Callable
from typing import IO, Any

from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from apps.chat.models import Conversation
from apps.workspaces.models import Workspace

from . import formats, selectors

INDEX_SCHEMA = "docqa.workspace-export/1"
PROGRESS_EVERY = 10  # conversations between two progress reports


def conversation_files(conversation: Conversation) -> tuple[str, str]:
    """(Markdown, JSON) of a conversation loaded by selectors.conversation_for_export."""
    messages = getattr(conversation, "export_messages", [])
    documents = getattr(conversation, "export_documents", [])
    data = formats.conversation_data(conversation, messages, documents)
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    return formats.conversation_markdown(conversation, messages), text


def file_stem(conversation: Conversation) -> str:
    """`<id>-<title>`, safe as a file name in any zip tool (letters of any script kept)."""
    title = slugify(conversation.title, allow_unicode=True)[:60].strip("-")
    return f"{conversation.pk}-{title or 'conversation'}"


def write_zip(
    workspace: Workspace, target: IO[bytes], progress: Callable[[int], object] | None = None
) -> int:
    """Write the workspace's export zip into `target`; returns the number of conversations.
    `progress(done)` is called every PROGRESS_EVERY conversations."""
    entries: list[dict[str, Any]] = []
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for conversation in selectors.workspace_conversations(workspace):
            markdown, data = conversation_files(conversation)
            stem = f"conversations/{file_stem(conversation)}"
            archive.writestr(f"{stem}.md", markdown)
            archive.writestr(f"{stem}.json", data)
            entries.append(_index_entry(conversation, stem))
            if progress is not None and len(entries) % PROGRESS_EVERY == 0:
                progress(len(entries))
        archive.writestr("index.json", _index_json(workspace, entries))
        archive.writestr("index.md", _index_markdown(workspace, entries))
    return len(entries)


def _index_entry(conversation: Conversation, stem: str) -> dict[str, Any]:
    return {
        "id": conversation.pk,
        "title": conversation.title,
        "messages": len(getattr(conversation, "export_messages", [])),
        "updated_at": conversation.updated_at.isoformat(),
        "markdown": f"{stem}.md",
        "json": f"{stem}.json",
    }


def _index_json(workspace: Workspace, entries: list[dict[str, Any]]) -> str:
    data = {
        "schema": INDEX_SCHEMA,
        "exported_at": timezone.now().isoformat(),
        "workspace": {"id": workspace.pk, "slug": workspace.slug, "name": workspace.name},
        "conversations": entries,
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def _index_markdown(workspace: Workspace, entries: list[dict[str, Any]]) -> str:
    lines = [f"# {_('Conversations of %(name)s') % {'name': workspace.name}}", ""]
    for entry in entries:
        title = entry["title"] or _("New conversation")
        lines.append(f"- [{title}]({entry['markdown']})")
    return "\n".join(lines) + "\n"


def zip_now(workspace: Workspace) -> bytes:
    """The export zip built here and now (small workspaces: no worker, no stored file)."""
    with tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024) as target:
        write_zip(workspace, target)
        target.seek(0)
        return target.read()

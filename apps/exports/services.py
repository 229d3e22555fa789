"""Writes for exports: the zip of a workspace's conversations, built in the request or the worker.

A zip holds, per conversation, `conversations/<id>-<title>.md` and `.json` (apps.exports.formats),
plus `index.json` (schema ``docqa.workspace-export/1``: the workspace and, per conversation, its
id, title, message count and the two file names) and `index.md` (the same as a list to read).
Zips built in the worker go to default_storage (local disk or a bucket, only through the storage
API) and are deleted EXPORT_RETENTION_HOURS after they were finished.
"""

from __future__ import annotations

import json
import logging
import tempfile
import uuid
import zipfile
from collections.abc import Callable
from datetime import timedelta
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone, translation
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from apps.chat.models import Conversation
from apps.workspaces.models import Membership, Workspace

from . import formats, selectors
from .models import ExportStatus, WorkspaceExport

logger = logging.getLogger(__name__)

INDEX_SCHEMA = "docqa.workspace-export/1"
PROGRESS_EVERY = 10  # conversations between two progress writes


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
    workspace: Workspace, target: IO[bytes], progress: Callable[[int], None] | None = None
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


def needs_worker(workspace: Workspace) -> bool:
    return selectors.conversation_count(workspace) > settings.EXPORT_DIRECT_MAX_CONVERSATIONS


def request_export(actor: Membership) -> WorkspaceExport:
    """Queue an export of the actor's workspace for the worker (on commit), or return the one
    already queued or running there: one at a time per workspace is enough."""
    workspace = actor.workspace
    with transaction.atomic():
        Workspace.objects.select_for_update().filter(pk=workspace.pk).first()
        running = WorkspaceExport.objects.filter(
            workspace=workspace, status__in=[ExportStatus.QUEUED, ExportStatus.RUNNING]
        ).first()
        if running is not None:
            return running
        export = WorkspaceExport.objects.create(
            workspace=workspace,
            requested_by=actor.user,
            language=translation.get_language() or settings.LANGUAGE_CODE,
            total=selectors.conversation_count(workspace),
        )
        from .tasks import build_workspace_export

        transaction.on_commit(lambda: build_workspace_export.delay(export.pk))
    return export


def run_export(export_id: int) -> None:
    """Build a queued export's zip into storage, recording progress as it goes.

    Anything that goes wrong (storage unreachable, database gone) marks the export failed with
    a message the admin sees (stored untranslated, translated when shown), and nothing
    half-written is left in storage."""
    export = WorkspaceExport.objects.select_related("workspace").filter(pk=export_id).first()
    if export is None or export.status != ExportStatus.QUEUED:
        return  # deleted with its workspace, or a redelivered task for one already handled
    WorkspaceExport.objects.filter(pk=export.pk).update(status=ExportStatus.RUNNING)

    def progress(done: int) -> None:
        WorkspaceExport.objects.filter(pk=export.pk).update(done=done)

    name = ""
    try:
        with translation.override(export.language), tempfile.TemporaryFile() as target:
            count = write_zip(export.workspace, target, progress)
            size = target.tell()
            target.seek(0)
            path = f"exports/{export.workspace_id}/{uuid.uuid4()}.zip"
            name = default_storage.save(path, File(target, name=path))
    except Exception:
        logger.exception("workspace export %s failed", export.pk)
        if name:
            default_storage.delete(name)
        WorkspaceExport.objects.filter(pk=export.pk).update(
            status=ExportStatus.FAILED,
            error=gettext_noop("The export could not be written. Please try again."),
            finished_at=timezone.now(),
        )
        return
    WorkspaceExport.objects.filter(pk=export.pk).update(
        status=ExportStatus.DONE,
        done=count,
        total=count,
        size=size,
        storage_name=name,
        finished_at=timezone.now(),
    )


def delete_expired(workspace: Workspace | None = None) -> int:
    """Delete the zips finished more than EXPORT_RETENTION_HOURS ago (marking their exports
    expired), and fail exports stuck queued or running that long (their worker died).
    Returns how many exports changed."""
    cutoff = timezone.now() - timedelta(hours=settings.EXPORT_RETENTION_HOURS)
    qs = (
        WorkspaceExport.objects.all()
        if workspace is None
        else WorkspaceExport.objects.filter(workspace=workspace)
    )
    changed = qs.filter(
        status__in=[ExportStatus.QUEUED, ExportStatus.RUNNING], created_at__lt=cutoff
    ).update(
        status=ExportStatus.FAILED,
        error=gettext_noop("The export did not finish. Please try again."),
        finished_at=timezone.now(),
    )
    for export in qs.filter(status=ExportStatus.DONE, finished_at__lt=cutoff):
        if export.storage_name:
            default_storage.delete(export.storage_name)  # absent already: no error
        WorkspaceExport.objects.filter(pk=export.pk).update(
            status=ExportStatus.EXPIRED, storage_name=""
        )
        changed += 1
    return changed

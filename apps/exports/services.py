"""Writes for exports: workspace zips (apps.exports.archive) queued, built by the worker, expired.

Every export is recorded in the audit log when it is asked for (a conversation's file, a
workspace's zip built now or queued for the worker): that is when its content leaves, or is
set to leave, the workspace. Zips built in the worker go to default_storage (local disk or a
bucket, only through the storage API) and are deleted EXPORT_RETENTION_HOURS after they were
finished.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone, translation
from django.utils.translation import gettext_noop

from apps.audit import services as audit
from apps.audit.models import Action
from apps.chat.models import Conversation
from apps.workspaces.models import Membership, Workspace

from . import archive, selectors
from .models import ExportStatus, WorkspaceExport

logger = logging.getLogger(__name__)


def needs_worker(workspace: Workspace) -> bool:
    return selectors.conversation_count(workspace) > settings.EXPORT_DIRECT_MAX_CONVERSATIONS


def export_conversation(
    *, actor: Membership, conversation: Conversation, fmt: str, request: HttpRequest | None = None
) -> str:
    """One conversation as a Markdown ("md") or JSON ("json") file's text, recorded."""
    markdown, data = archive.conversation_files(conversation)
    audit.record(
        Action.CONVERSATION_EXPORTED,
        actor=actor.user,
        workspace=actor.workspace,
        target=conversation,
        target_label=conversation.title,
        request=request,
        details={"format": fmt},
    )
    return markdown if fmt == "md" else data


def export_now(*, actor: Membership, request: HttpRequest | None = None) -> bytes:
    """The actor's workspace as a zip built in this request (small workspaces), recorded."""
    body = archive.zip_now(actor.workspace)
    _record_workspace_export(actor, request, mode="direct", size=len(body))
    return body


def _record_workspace_export(
    actor: Membership, request: HttpRequest | None, **details: object
) -> None:
    audit.record(
        Action.WORKSPACE_EXPORTED,
        actor=actor.user,
        workspace=actor.workspace,
        target=actor.workspace,
        request=request,
        details=details,
    )


def request_export(actor: Membership, request: HttpRequest | None = None) -> WorkspaceExport:
    """Queue an export of the actor's workspace for the worker (on commit), or return the one
    already queued or running there: one at a time per workspace is enough. A new one is
    recorded; returning the running one is not a second export."""
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
        _record_workspace_export(actor, request, mode="worker", export_id=export.pk)
        from .tasks import build_workspace_export

        transaction.on_commit(lambda: build_workspace_export.delay(export.pk))
    return export


def run_export(export_id: int) -> None:
    """Build a queued export's zip into storage, recording progress as it goes.

    A run whose worker died (killed, out of memory) is redelivered and starts over, at most
    EXPORT_MAX_ATTEMPTS times: then the export fails instead of looping. Anything that goes
    wrong (storage unreachable, database gone) marks the export failed with a message the admin
    sees (stored untranslated, translated when shown); nothing half-written stays in storage,
    nor a second zip when two deliveries of one export ran side by side.
    """
    export = WorkspaceExport.objects.select_related("workspace").filter(pk=export_id).first()
    if export is None or not export.in_progress:
        return  # deleted with its workspace, or a redelivered task for one already finished
    if export.attempts >= settings.EXPORT_MAX_ATTEMPTS:
        _fail(export, gettext_noop("The export did not finish. Please try again."))
        return
    _update(export, status=ExportStatus.RUNNING, attempts=export.attempts + 1, done=0)
    name = ""
    try:
        with translation.override(export.language), tempfile.TemporaryFile() as target:
            count = archive.write_zip(export.workspace, target, lambda n: _update(export, done=n))
            size = target.tell()
            target.seek(0)
            path = f"exports/{export.workspace_id}/{uuid.uuid4()}.zip"
            name = default_storage.save(path, File(target, name=path))
    except Exception:
        logger.exception("workspace export %s failed", export.pk)
        if name:
            default_storage.delete(name)
        _fail(export, gettext_noop("The export could not be written. Please try again."))
        return
    finished = _update(
        export,
        status=ExportStatus.DONE,
        done=count,
        total=count,
        size=size,
        storage_name=name,
        finished_at=timezone.now(),
    )
    if not finished:  # another delivery of this export finished first: keep only its zip
        default_storage.delete(name)


def _update(export: WorkspaceExport, **fields: Any) -> bool:
    """Update the export while it is still in progress; False once it is not."""
    in_progress = [ExportStatus.QUEUED, ExportStatus.RUNNING]
    qs = WorkspaceExport.objects.filter(pk=export.pk, status__in=in_progress)
    return qs.update(**fields) > 0


def _fail(export: WorkspaceExport, error: str) -> None:
    _update(export, status=ExportStatus.FAILED, error=error, finished_at=timezone.now())


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

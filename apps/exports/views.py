"""Export pages. Thin: access through the workspace helpers, logic in services and selectors.

A conversation exports for anyone who may read it (any member: the conversation page's own
access); the workspace's zip only for its owners and admins. Outsiders get 404 everywhere.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from apps.documents.downloads import OriginalMissing, stored_attachment
from apps.workspaces.access import WorkspaceRequest, workspace_view
from apps.workspaces.models import Role

from . import archive, selectors, services
from .models import ExportStatus, WorkspaceExport

_CONTENT_TYPES = {"md": "text/markdown; charset=utf-8", "json": "application/json"}


def _attachment(response: HttpResponse, filename: str) -> HttpResponse:
    disposition = content_disposition_header(True, filename)
    assert disposition is not None  # only a header that is not an attachment can be None
    response["Content-Disposition"] = disposition
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@workspace_view()
@require_safe
def conversation(request: WorkspaceRequest, conversation_id: int, fmt: str) -> HttpResponse:
    if fmt not in _CONTENT_TYPES:
        raise Http404
    found = selectors.conversation_for_export(request.workspace, conversation_id)
    if found is None:
        raise Http404
    body = services.export_conversation(
        actor=request.membership, conversation=found, fmt=fmt, request=request
    )
    response = HttpResponse(body, content_type=_CONTENT_TYPES[fmt])
    return _attachment(response, f"{archive.file_stem(found)}.{fmt}")


def _export(request: WorkspaceRequest, export_id: int) -> WorkspaceExport:
    export = selectors.export_in(request.workspace, export_id)
    if export is None:
        raise Http404
    return export


@workspace_view(min_role=Role.ADMIN)
@require_safe
def workspace(request: WorkspaceRequest) -> HttpResponse:
    """The admin's export page: start an export, follow the running one, download the zips."""
    services.delete_expired(request.workspace)
    context = {
        "exports": selectors.recent_exports(request.workspace),
        "count": selectors.conversation_count(request.workspace),
        "retention_hours": f"{settings.EXPORT_RETENTION_HOURS:g}",
    }
    return render(request, "exports/workspace.html", context)


@workspace_view(min_role=Role.ADMIN)
@require_POST
def start(request: WorkspaceRequest) -> HttpResponse:
    """Small workspaces get their zip in this response; large ones a queued export."""
    if not services.needs_worker(request.workspace):
        body = services.export_now(actor=request.membership, request=request)
        response = HttpResponse(body, content_type="application/zip")
        return _attachment(response, _zip_name(request))
    services.request_export(request.membership, request=request)
    return redirect("exports:workspace", request.workspace.slug)


def _zip_name(request: WorkspaceRequest) -> str:
    return f"{request.workspace.slug}-conversations-{timezone.now():%Y%m%d-%H%M}.zip"


@workspace_view(min_role=Role.ADMIN, remember=False)
@require_safe
def status(request: WorkspaceRequest, export_id: int) -> JsonResponse:
    """What the page's progress bar polls."""
    export = _export(request, export_id)
    done = export.status == ExportStatus.DONE
    url = reverse("exports:download", args=[request.workspace.slug, export.pk]) if done else None
    return JsonResponse(
        {
            "status": export.status,
            "label": export.get_status_display(),
            "done": export.done,
            "total": export.total,
            "percent": export.percent,
            "download_url": url,
            "error": _(export.error) if export.error else "",
        }
    )


@workspace_view(min_role=Role.ADMIN)
@require_safe
def download(request: WorkspaceRequest, export_id: int) -> HttpResponseBase:
    """The finished zip, streamed from storage (or a signed bucket URL): never read whole into
    memory, however large the workspace."""
    export = _export(request, export_id)
    gone = _("This export is not available (any more).")
    if export.status != ExportStatus.DONE or not export.storage_name:
        raise Http404(gone)
    name = f"{request.workspace.slug}-conversations-{export.created_at:%Y%m%d-%H%M}.zip"
    try:
        return stored_attachment(export.storage_name, name, "application/zip", export.size)
    except OriginalMissing as exc:
        raise Http404(gone) from exc

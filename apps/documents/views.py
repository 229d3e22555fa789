"""Document pages. Thin: access through `workspace_view`, reads from selectors, writes through
services. The upload endpoint answers JSON to the page's script (one file per request, so each
file gets its own progress bar) and redirects with messages when a plain form posted it."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import filesizeformat
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST, require_safe

from apps.workspaces.access import WorkspaceRequest, workspace_view
from apps.workspaces.models import Role

from . import selectors, services
from .downloads import OriginalMissing, attachment_response
from .formats import ALLOWED_EXTENSIONS, max_upload_bytes
from .forms import FilterForm, UploadForm
from .models import Document
from .uploads import (
    BodyRefused,
    SizeLimitUploadHandler,
    ingest_one,
    limit_upload_size,
    refused_body_message,
    refused_body_status,
)

logger = logging.getLogger(__name__)

PAGE_SIZE = 50


def _document(request: WorkspaceRequest, document_id: int) -> Document:
    return get_object_or_404(selectors.documents_in(request.workspace), pk=document_id)


def _row(request: HttpRequest, document: Document) -> str:
    return render_to_string("documents/_row.html", {"doc": document}, request=request)


def _status_json(request: HttpRequest, document: Document) -> dict[str, Any]:
    return {
        "id": document.pk,
        "status": document.status,
        "final": document.is_final,
        "html": _row(request, document),
    }


@workspace_view()
@require_safe
def document_list(request: WorkspaceRequest) -> HttpResponse:
    filters = FilterForm(request.GET or None)
    status = query = ""
    if filters.is_valid():
        status, query = filters.cleaned_data["status"], filters.cleaned_data["q"]
    documents = selectors.document_list(request.workspace, status=status, query=query)
    page = Paginator(documents, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "documents/list.html",
        {
            "page": page,
            "filters": filters,
            "filtered": bool(status or query),
            "upload_form": UploadForm(),
            "max_upload_bytes": max_upload_bytes(),
            "allowed_extensions": ALLOWED_EXTENSIONS,
        },
    )


@csrf_exempt  # the CSRF check runs in _receive, after the size-limit handler is installed
@workspace_view(min_role=Role.MEMBER)
@require_POST
def upload(request: WorkspaceRequest) -> HttpResponse:
    limiter = limit_upload_size(request, max_upload_bytes())
    try:
        return _receive(request, limiter)
    except BodyRefused as refused:
        # Nothing was stored: Django stops parsing before the view sees a file.
        result = {"ok": False, "name": "", "message": refused_body_message(refused)}
        return _respond(request, [result], status=refused_body_status(refused))


@csrf_protect
def _receive(request: WorkspaceRequest, limiter: SizeLimitUploadHandler) -> HttpResponse:
    form = UploadForm(request.POST, request.FILES)  # parses the body through the limiter
    results: list[dict[str, Any]] = []
    for name, _size in limiter.too_large:
        results.append(
            {
                "ok": False,
                "name": name,
                "message": _("%(name)s is more than the limit of %(limit)s.")
                % {"name": name, "limit": filesizeformat(max_upload_bytes())},
            }
        )
    if form.is_valid():
        for upload in form.cleaned_data["file"]:
            results.append(_ingest_one(request, upload))
    elif not results:
        results.append(
            {"ok": False, "name": "", "message": " ".join(map(str, form.errors.get("file", [])))}
        )
    return _respond(request, results)


def _respond(
    request: WorkspaceRequest, results: list[dict[str, Any]], status: int = 400
) -> HttpResponse:
    """JSON for the page's script and API clients (``status`` when nothing was accepted), else
    back to the documents page with one message per file."""
    if "application/json" in request.headers.get("Accept", ""):
        ok = any(r["ok"] for r in results)
        return JsonResponse({"results": results}, status=200 if ok else status)
    for result in results:
        level = messages.SUCCESS if result["ok"] else messages.ERROR
        if result.get("duplicate"):
            level = messages.INFO
        messages.add_message(request, level, result["message"])
    return redirect("documents:list", slug=request.workspace.slug)


def _ingest_one(request: WorkspaceRequest, upload: Any) -> dict[str, Any]:
    result = ingest_one(request.membership, upload, request)
    if result.document is None:
        return {"ok": False, "name": result.name, "message": result.message}
    return {
        "ok": True,
        "name": result.name,
        "duplicate": result.duplicate,
        "message": result.message,
        "document": _status_json(request, result.document),
        "url": reverse("documents:detail", args=[request.workspace.slug, result.document.pk]),
    }


@workspace_view()
@require_safe
def status(request: WorkspaceRequest) -> JsonResponse:
    """Rows for the given ids, so the page can follow extraction without reloading."""
    ids = [int(i) for i in request.GET.get("ids", "").split(",") if i.strip().isdigit()]
    documents = selectors.documents_by_ids(request.workspace, ids)
    return JsonResponse({"documents": [_status_json(request, d) for d in documents]})


@workspace_view()
@require_safe
def detail(request: WorkspaceRequest, document_id: int) -> HttpResponse:
    document = _document(request, document_id)
    try:
        number = int(request.GET.get("page", "1"))
    except ValueError:
        number = 1
    return render(
        request,
        "documents/detail.html",
        {"doc": document, "text_page": selectors.text_page(document, number)},
    )


@workspace_view()
@require_safe
def download(request: WorkspaceRequest, document_id: int) -> HttpResponseBase:
    document = _document(request, document_id)
    try:
        return attachment_response(document)
    except OriginalMissing:
        logger.warning("original of document %s is missing from storage", document.pk)
        context = {"document": document}
        return render(request, "documents/original_missing.html", context, status=404)


@workspace_view(min_role=Role.MEMBER)
@require_POST
def reextract(request: WorkspaceRequest, document_id: int) -> HttpResponse:
    document = _document(request, document_id)
    try:
        services.reextract_document(actor=request.membership, document=document, request=request)
    except services.DocumentError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("%(name)s is queued for extraction.") % {"name": document.name})
    return redirect("documents:detail", slug=request.workspace.slug, document_id=document.pk)


@workspace_view(min_role=Role.MEMBER)
@require_POST
def delete(request: WorkspaceRequest, document_id: int) -> HttpResponse:
    document = _document(request, document_id)
    try:
        services.delete_document(actor=request.membership, document=document, request=request)
    except services.DocumentError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("%(name)s was deleted.") % {"name": document.name})
    return redirect("documents:list", slug=request.workspace.slug)

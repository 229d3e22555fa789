"""/api/v1/documents: upload (one or many files, the UI's checks and messages), list, status,
extracted text, re-extract, delete. Writes need a member key; reads any key."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from ninja import Router
from ninja.responses import Status as Answer

from apps.documents import selectors, services
from apps.documents.formats import max_upload_bytes
from apps.documents.forms import UploadForm
from apps.documents.models import Document, Status
from apps.documents.uploads import ingest_one, limit_upload_size

from .. import idempotency
from ..auth import ApiRequest
from ..errors import ApiError, not_found
from .common import actor, page_of, require_writer
from .schemas import DocumentOut, DocumentPage, Error, TextPageOut, UploadOut

router = Router(tags=["documents"])
ROUTE_UPLOAD = "documents.upload"
_UPLOAD_BODY = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "array", "items": {"type": "string", "format": "binary"}}
                    },
                    "required": ["file"],
                }
            }
        }
    }
}


def document_json(document: Document) -> dict[str, Any]:
    return {
        "id": document.pk,
        "name": document.name,
        "status": document.status,
        "final": document.is_final,
        "size": document.size,
        "extension": document.extension,
        "mime_type": document.mime_type,
        "sha256": document.sha256,
        "token_count": document.token_count,
        "failure_message": document.failure_message if document.status == Status.FAILED else "",
        "uploaded_at": document.created_at,
    }


def _document(request: ApiRequest, document_id: int) -> Document:
    document = selectors.documents_in(request.workspace).filter(pk=document_id).first()
    if document is None:
        raise not_found()
    return document


@router.post(
    "",
    response={200: UploadOut, 400: UploadOut, 403: Error, 409: Error},
    openapi_extra=_UPLOAD_BODY,
    summary="Upload one or many files (multipart field `file`)",
)
def upload(request: ApiRequest) -> Any:
    """Each file is checked and stored like an upload in the browser; each gets its own result
    (`ok`, `message`). 200 when at least one was accepted, 400 when none was. With an
    Idempotency-Key header, a repeat returns the first answer and uploads nothing."""
    require_writer(request)
    workspace = request.workspace
    key = idempotency.key_of(request)
    first = idempotency.claim(workspace, ROUTE_UPLOAD, key)
    if first is not None:
        return Answer(first.status_code, first.body)
    try:
        status, body = _receive(request)
    except BaseException:
        idempotency.release(workspace, ROUTE_UPLOAD, key)
        raise
    idempotency.store(workspace, ROUTE_UPLOAD, key, status, body)
    return Answer(status, body)


def _receive(request: ApiRequest) -> tuple[int, dict[str, Any]]:
    # The size limit is enforced while the body is read, as in apps.documents.views.upload.
    limiter = limit_upload_size(request, max_upload_bytes())
    form = UploadForm(request.POST, request.FILES)
    results: list[dict[str, Any]] = [
        {
            "ok": False,
            "name": name,
            "message": _("%(name)s is more than the limit of %(limit)s.")
            % {"name": name, "limit": filesizeformat(max_upload_bytes())},
        }
        for name, _size in limiter.too_large
    ]
    if form.is_valid():
        results.extend(_ingest_one(request, upload) for upload in form.cleaned_data["file"])
    elif not results:
        results.append(
            {"ok": False, "name": "", "message": " ".join(map(str, form.errors.get("file", [])))}
        )
    ok = any(r["ok"] for r in results)
    return (200 if ok else 400), {"results": results}


def _ingest_one(request: ApiRequest, upload: Any) -> dict[str, Any]:
    result = ingest_one(actor(request), upload, request)
    if result.document is None:
        return {"ok": False, "name": result.name, "message": result.message}
    return {
        "ok": True,
        "name": result.name,
        "duplicate": result.duplicate,
        "message": result.message,
        "document": document_json(result.document),
    }


@router.get("", response=DocumentPage, summary="List documents")
def list_documents(
    request: ApiRequest, status: str = "", q: str = "", page: int = 1, page_size: int = 50
) -> Any:
    if status and status not in Status.values:
        raise ApiError(
            422,
            "invalid_input",
            _("status must be one of: %(values)s.") % {"values": ", ".join(Status.values)},
        )
    documents = selectors.document_list(request.workspace, status=status, query=q)
    meta, items = page_of(documents, page, page_size)
    return {**meta, "items": [document_json(d) for d in items]}


@router.get("/{document_id}", response={200: DocumentOut, 404: Error}, summary="One document")
def get_document(request: ApiRequest, document_id: int) -> Any:
    return document_json(_document(request, document_id))


@router.get(
    "/{document_id}/text",
    response={200: TextPageOut, 404: Error, 409: Error},
    summary="The extracted text, a page (20 000 characters) at a time",
)
def document_text(request: ApiRequest, document_id: int, page: int = 1) -> Any:
    document = _document(request, document_id)
    text = selectors.text_page(document, page) if document.status == Status.READY else None
    if text is None:
        raise ApiError(409, "not_ready", _("This document has no extracted text yet."))
    return {
        "document_id": document.pk,
        "page": text.number,
        "pages": text.count,
        "total_chars": text.total_chars,
        "text": text.text,
    }


@router.post(
    "/{document_id}/reextract",
    response={202: DocumentOut, 403: Error, 404: Error, 409: Error},
    summary="Extract the text again",
)
def reextract(request: ApiRequest, document_id: int) -> Any:
    require_writer(request)
    document = _document(request, document_id)
    try:
        document = services.reextract_document(
            actor=actor(request), document=document, request=request
        )
    except services.DocumentError as error:
        raise ApiError(409, "conflict", str(error)) from error
    return Answer(202, document_json(document))


@router.delete(
    "/{document_id}", response={204: None, 403: Error, 404: Error}, summary="Delete a document"
)
def delete(request: ApiRequest, document_id: int) -> Any:
    require_writer(request)
    document = _document(request, document_id)
    try:
        services.delete_document(actor=actor(request), document=document, request=request)
    except services.DocumentError:
        raise not_found() from None
    return HttpResponse(status=204)

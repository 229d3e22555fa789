"""Refuse an oversized upload while it is being received, not after it is on disk.

Django's multipart parser writes every file part to memory or a temp file before the view runs;
a 5 GB upload would be fully stored just to be refused. This handler stops reading a part once it
passes the limit and remembers its name, so the view can still say which file was too large.
(`request.body` is never touched on upload views: reference §D1, Django ticket #37397.)

Django itself stops parsing a body with more form data than DATA_UPLOAD_MAX_MEMORY_SIZE, or
more fields or files than DATA_UPLOAD_MAX_NUMBER_FIELDS / _FILES, by raising; left alone that
becomes a bare "Bad Request" page. ``refused_body_message`` says what happened instead.

``ingest_one`` stores one received file and words its result, for the page and the API alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from apps.workspaces.models import Membership

from . import services
from .models import Document

BodyRefused = (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent)


def refused_body_message(error: Exception) -> str:
    """What to tell the uploader when Django refused the whole request body."""
    if isinstance(error, TooManyFilesSent):
        return _("Upload at most %(n)s files at once.") % {
            "n": settings.DATA_UPLOAD_MAX_NUMBER_FILES
        }
    if isinstance(error, TooManyFieldsSent):
        return _(
            "The upload was refused: it has too many form fields. Send only the files, with "
            "the upload form of the documents page."
        )
    return _(
        "The upload was refused: it has more form data than DocQA accepts besides the files "
        "(%(limit)s). Send only the files, with the upload form of the documents page."
    ) % {"limit": filesizeformat(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)}


def refused_body_status(error: Exception) -> int:
    return 413 if isinstance(error, RequestDataTooBig) else 400


class SizeLimitUploadHandler(FileUploadHandler):
    def __init__(self, limit: int, request: Any = None) -> None:
        super().__init__(request)
        self.limit = limit
        self.received = 0
        self.too_large: list[tuple[str, int]] = []

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            self.too_large.append((self.file_name or "", self.received))
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def limit_upload_size(request: HttpRequest, limit: int) -> SizeLimitUploadHandler:
    """Put a SizeLimitUploadHandler first among the request's upload handlers; return it.

    Call it before anything reads ``request.POST`` or ``request.FILES``: once the body is
    parsed Django refuses to change the handlers (AttributeError).
    """
    limiter = SizeLimitUploadHandler(limit, request)
    request.upload_handlers = [limiter, *request.upload_handlers]
    return limiter


@dataclass(frozen=True)
class UploadResult:
    """One file of an upload, in words for the person (or program) that sent it."""

    ok: bool
    name: str
    message: str
    duplicate: bool = False
    document: Document | None = None


def ingest_one(
    actor: Membership, upload: UploadedFile, request: HttpRequest | None = None
) -> UploadResult:
    """Store one uploaded file (``services.ingest_upload``) and say what became of it; the
    page and the API both answer with this message."""
    try:
        outcome = services.ingest_upload(actor=actor, upload=upload, request=request)
    except (services.UploadRejected, services.DocumentError) as error:
        return UploadResult(ok=False, name=upload.name or "", message=str(error))
    document = outcome.document
    if not outcome.created:
        message = _("%(name)s is already in this workspace as “%(existing)s”.") % {
            "name": upload.name,
            "existing": document.name,
        }
    elif outcome.reused_text:
        message = _("%(name)s uploaded; its text was already known, so it is ready.") % {
            "name": document.name
        }
    else:
        message = _("%(name)s uploaded; extracting its text.") % {"name": document.name}
    return UploadResult(
        ok=True,
        name=document.name,
        message=message,
        duplicate=not outcome.created,
        document=document,
    )

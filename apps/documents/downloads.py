"""Serve a stored original as an attachment, in chunks, without buffering it under ASGI.

Django's FileResponse iterates a synchronous file, which ASGI consumes whole into memory first
(reference §A1); an async generator reading through a thread streams it instead. From a bucket
(docqa/storage.py) the same code streams what the storage reads, or, with
DOCQA_STORAGE_REDIRECT_DOWNLOADS, redirects to a signed URL valid for a minute.

Raises OriginalMissing when the storage no longer holds the file (deleted by hand, a bucket
restored from an older backup): the view says so in words.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import IO

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.utils.http import content_disposition_header

from .models import Document

CHUNK = 256 * 1024
# Served as data, never rendered: HTML or SVG a user uploaded must not run in our origin.
_RENDERABLE = {"text/html", "image/svg+xml", "application/xhtml+xml"}


class OriginalMissing(Exception):
    """The document's original is not in the storage."""


async def _chunks(file: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(file.read, CHUNK):
            yield chunk
    finally:
        await asyncio.to_thread(file.close)


def attachment_response(document: Document) -> HttpResponse | StreamingHttpResponse:
    content_type = document.mime_type or "application/octet-stream"
    if content_type in _RENDERABLE:
        content_type = "application/octet-stream"
    return stored_attachment(document.storage_name, document.name, content_type, document.size)


def stored_attachment(
    storage_name: str, filename: str, content_type: str, size: int
) -> HttpResponse | StreamingHttpResponse:
    """Any stored file (an original, an export zip) as a download named `filename`: streamed,
    or a redirect to a signed URL. Raises OriginalMissing when the storage lacks it."""
    disposition = content_disposition_header(True, filename)
    assert disposition is not None  # only a header that is not an attachment can be None
    if settings.DOCQA_STORAGE_REDIRECT_DOWNLOADS:
        if not default_storage.exists(storage_name):
            raise OriginalMissing(storage_name)
        # Only a bucket redirects (settings.py), and S3Storage.url takes the response headers
        # as `parameters`; the base Storage.url of the stub does not.
        url = default_storage.url(  # type: ignore[call-arg]
            storage_name,
            parameters={
                "ResponseContentDisposition": disposition,
                "ResponseContentType": content_type,
            },
        )
        redirect = HttpResponseRedirect(url)
        redirect["Cache-Control"] = "private, no-store"
        return redirect
    try:
        file = default_storage.open(storage_name, "rb")
    except FileNotFoundError as exc:
        raise OriginalMissing(storage_name) from exc
    response = StreamingHttpResponse(_chunks(file), content_type=content_type)
    response["Content-Length"] = str(size)
    response["Content-Disposition"] = disposition
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response

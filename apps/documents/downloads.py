"""Serve a stored original as an attachment, in chunks, without buffering it under ASGI.

Django's FileResponse iterates a synchronous file, which ASGI consumes whole into memory first
(reference §A1); an async generator reading through a thread streams it instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import IO

from django.core.files.storage import default_storage
from django.http import Http404, StreamingHttpResponse
from django.utils.http import content_disposition_header

from .models import Document

CHUNK = 256 * 1024
# Served as data, never rendered: HTML or SVG a user uploaded must not run in our origin.
_RENDERABLE = {"text/html", "image/svg+xml", "application/xhtml+xml"}


async def _chunks(file: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(file.read, CHUNK):
            yield chunk
    finally:
        await asyncio.to_thread(file.close)


def attachment_response(document: Document) -> StreamingHttpResponse:
    try:
        file = default_storage.open(document.storage_name, "rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    content_type = document.mime_type or "application/octet-stream"
    if content_type in _RENDERABLE:
        content_type = "application/octet-stream"
    response = StreamingHttpResponse(_chunks(file), content_type=content_type)
    response["Content-Length"] = str(document.size)
    response["Content-Disposition"] = content_disposition_header(True, document.name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response

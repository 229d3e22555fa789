"""Refuse an oversized file while it is being received, not after it is on disk.

Django's multipart parser writes every file part to memory or a temp file before the view runs;
a 5 GB upload would be fully stored just to be refused. This handler stops reading a part once it
passes the limit and remembers its name, so the view can still say which file was too large.
(`request.body` is never touched on upload views: reference §D1, Django ticket #37397.)
"""

from __future__ import annotations

from typing import Any

from django.core.files.uploadhandler import FileUploadHandler, SkipFile


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

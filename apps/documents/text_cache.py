"""Extracted texts kept in the process between questions, by row and version.

Every question reads the full text of every document in scope: with 100k tokens of documents
that is ~400 KB from PostgreSQL per question, the largest part of starting an answer
(docs/benchmarks.md). The texts change rarely (a refresh re-extracts in place), and each row's
`updated_at` changes with it. So the caller reads only ids and versions, and this cache loads
the texts it does not hold at that version, in one query. It is per process, bounded by
characters (least recently used out first), and safe to share between request threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime

from django.conf import settings

from .models import ExtractedText


class TextCache:
    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self._items: OrderedDict[int, tuple[datetime, str]] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()

    def texts(self, versions: dict[int, datetime]) -> dict[int, str]:
        """The text of each ExtractedText id at (at least) the given version. An id whose row
        is gone is missing from the result."""
        found: dict[int, str] = {}
        with self._lock:
            for pk, version in versions.items():
                item = self._items.get(pk)
                if item is not None and item[0] == version:
                    self._items.move_to_end(pk)
                    found[pk] = item[1]
        missing = [pk for pk in versions if pk not in found]
        if missing:
            rows = ExtractedText.objects.filter(pk__in=missing).values_list(
                "pk", "updated_at", "text"
            )
            for pk, version, text in rows:
                found[pk] = text
                self._put(pk, version, text)
        return found

    def _put(self, pk: int, version: datetime, text: str) -> None:
        if len(text) > self.max_chars:
            return
        with self._lock:
            old = self._items.pop(pk, None)
            if old is not None:
                self._chars -= len(old[1])
            self._items[pk] = (version, text)
            self._chars += len(text)
            while self._chars > self.max_chars:
                _pk, (_version, dropped) = self._items.popitem(last=False)
                self._chars -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._chars = 0


text_cache = TextCache(settings.DOCQA_TEXT_CACHE_CHARS)

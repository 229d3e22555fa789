"""Extraction strategies: how a document's bytes become text.

Two strategies share one small interface so the pipeline does not care which one runs:

- ``LocalStrategy`` (``local.py``): offline extractors for PDF, Word, Excel, PowerPoint, EPUB and
  text-like files. Used when no ``MOONSHOT_API_KEY`` is set (tests, ``make run`` without a key).
- the provider strategy (``provider.py``): Moonshot's file-extract endpoint, chosen when a key is
  set. It reports its steps through the ``ExtractionContext`` (``uploading`` → ``remote_file`` →
  ``extracting``), each a conditional state change, so a crash at any step is resumable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Protocol

from django.conf import settings

if TYPE_CHECKING:
    from apps.documents.models import Document, Status


@dataclass(frozen=True)
class ExtractionResult:
    text: str  # plain text, for display and search
    content: str  # what chat sends: the provider's compact JSON, or the same keys built locally
    extractor: str  # e.g. "local:pdf" or "moonshot"


class ExtractionContext(Protocol):
    """What the pipeline offers a strategy while it owns a claimed document.

    Every method is a conditional update on the document row; each raises ``ClaimLost`` when the
    document was deleted or taken over meanwhile, and the strategy must then stop (cleaning up any
    remote file it created).
    """

    document: Document

    def uploading(self) -> None: ...
    def remote_file(self, file_id: str) -> None: ...
    def extracting(self) -> None: ...
    def open_original(self) -> IO[bytes]: ...


class ExtractionStrategy(Protocol):
    name: str
    initial_status: Status  # the status a claimed document starts in

    def extract(self, context: ExtractionContext) -> ExtractionResult:
        """Return the text or raise ExtractionFailed / ExtractionDeferred / ClaimLost."""
        ...


def content_json(*, text: str, file_type: str, filename: str) -> str:
    """The provider's content format (reference/moonshot-api.md §2.6): 5 keys, sorted, compact."""
    return json.dumps(
        {
            "content": text,
            "file_type": file_type,
            "filename": filename,
            "title": "",
            "type": "file",
        },
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=True,
    )


def choose_strategy(document: Document) -> ExtractionStrategy:
    """The provider when a key is configured and its strategy is available, else local."""
    from .local import LocalStrategy
    from .provider import provider_strategy

    if settings.MOONSHOT_API_KEY:
        strategy = provider_strategy(document)
        if strategy is not None:
            return strategy
    return LocalStrategy()

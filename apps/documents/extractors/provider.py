"""Where Moonshot's file-extract path plugs in (not wired yet: no HTTP is spoken here).

``provider_strategy(document)`` returns a strategy object (see ``ExtractionStrategy``) with
``name = "moonshot"`` and ``initial_status = Status.UPLOADING``. Its ``extract(context)`` is
expected to do, through ``apps.moonshot`` only (the one door to the provider):

1. reserve a slot in the provider file-store ledger (atomic; raise ``ExtractionDeferred`` when
   the store is full or admission says wait);
2. upload ``context.open_original()`` named ``f"{document.uuid}.{document.extension}"`` so the
   reconcile sweep can map remote files back to rows; call ``context.remote_file(file_id)`` the
   moment the id is known (its own transaction);
3. ``context.extracting()``; check the file status and fetch ``/files/{id}/content``;
4. return ``ExtractionResult(text=<json "content">, content=<raw body>, extractor="moonshot")``
   (the pipeline stores it and marks the document READY in one transaction);
5. delete the remote file in a ``finally`` and release the slot (retention policy).

Provider errors map onto the pipeline's vocabulary: retryable ones (429, overload) raise
``ExtractionDeferred(countdown)``; "cannot extract" raises ``ExtractionFailed("provider",
detail=<user message>)``; an image or legacy Office file the local strategy cannot read is the
main reason to route here. Returning None keeps the local strategy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apps.documents.models import Document

    from . import ExtractionStrategy


def provider_strategy(document: Document) -> ExtractionStrategy | None:
    return None

"""Moonshot's file-extract path: reserve a slot → upload → check status → fetch content → evict.

Every step is re-entrant, so a run killed at any point (SIGKILL, OOM) and redelivered finishes
the same document without leaving a remote file behind:

- the file-store slot belongs to ``document:<pk>``; a re-run gets the same slot back;
- the remote file is named after the slot (``docqa-<uuid><ext>``); a run killed after the upload
  but before the id was saved finds its file by that name instead of uploading twice;
- the id is saved (ledger and document) the moment the upload returns.

Provider trouble maps onto the pipeline's vocabulary: transient errors that survived the client's
own retries (429s, overload, 5xx, network) defer the document (QUEUED again, attempt refunded);
a full file store defers it too and asks for a reconcile; errors that retrying cannot fix fail
it with the provider's reason in the user's words.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache

from apps.documents.failures import ExtractionDeferred, ExtractionFailed, provider_failure
from apps.documents.models import Status
from apps.documents.transitions import ClaimLost
from apps.moonshot import errors, filestore
from apps.moonshot.client import MoonshotClient
from apps.moonshot.models import FileStorePolicy, RemoteFile, Retention
from apps.moonshot.types import RemoteFile as RemoteFileInfo

from . import ExtractionResult

if TYPE_CHECKING:
    from apps.documents.models import Document

    from . import ExtractionContext

logger = logging.getLogger(__name__)


class ProviderStrategy:
    name = "moonshot"
    initial_status = Status.UPLOADING

    def __init__(self, client: MoonshotClient | None = None) -> None:
        self.client = client or MoonshotClient()

    def extract(self, context: ExtractionContext) -> ExtractionResult:
        document = context.document
        resumed = filestore.current_slot(f"document:{document.pk}") is not None
        slot = self._reserve(document)
        try:
            remote = self._uploaded_file(context, slot, resumed=resumed)
            context.extracting()
            # Even for status "error" ask for the content: its 500 body carries the reason
            # ("Failed to extract file: …"), which status_details often leaves empty.
            content = self.client.file_content(remote.id)
            filestore.touch(slot)
        except ClaimLost:
            self._discard(slot, "document deleted during extraction")
            raise
        except (errors.FileCountExceededError, errors.RateLimitedError) as error:
            self._after_transient(slot, error)
            raise ExtractionDeferred(settings.DOCQA_PROVIDER_RETRY_SECONDS) from error
        except errors.MoonshotError as error:
            if error.retryable:
                self._after_transient(slot, error)
                raise ExtractionDeferred(settings.DOCQA_PROVIDER_RETRY_SECONDS) from error
            self._discard(slot, f"failed: {error.admin_message}"[:255])
            logger.warning("provider could not extract document %s: %s", document.pk, error)
            # The extraction reason ("Failed to extract file: …") is scrubbed of account ids and
            # says what kind of failure it is; other errors use the user message.
            if isinstance(error, errors.ExtractionFailedError):
                raise provider_failure(error.admin_message) from error
            raise ExtractionFailed("provider", detail=error.user_message) from error
        self._apply_retention(slot)
        return ExtractionResult(text=content.content, content=content.raw, extractor=self.name)

    # --- steps -------------------------------------------------------------------------------
    def _reserve(self, document: Document) -> RemoteFile:
        owner = f"document:{document.pk}"
        name = f"{document.uuid}.{document.extension}"
        slot = filestore.reserve(owner, document.size, name)
        if slot is None and FileStorePolicy.current().retention == Retention.KEEP:
            # Make room by evicting the least recently used kept copy, then try once more.
            limit = filestore.caps()
            filestore.evict_beyond(
                self.client, limit.files - 1, limit.bytes - document.size, reason="cap"
            )
            slot = filestore.reserve(owner, document.size, name)
        if slot is None:
            logger.info("provider file store full; document %s waits", document.pk)
            self._request_reconcile()
            raise ExtractionDeferred(settings.DOCQA_PROVIDER_RETRY_SECONDS)
        return slot

    def _uploaded_file(
        self, context: ExtractionContext, slot: RemoteFile, *, resumed: bool
    ) -> RemoteFileInfo:
        """The remote file for this slot: known, found by name after a crash, or uploaded now.

        Only a resumed slot (an earlier run died holding it) is looked up by name: that costs a
        list call, which a first run never needs.
        """
        if slot.remote_id:
            try:
                remote = self.client.retrieve_file(slot.remote_id)
            except errors.NotFoundError:
                filestore.release(slot, note="vanished before extraction finished")
                raise ExtractionDeferred(1) from None
            context.remote_file(remote.id)
            return remote
        existing = self._find_by_name(slot.remote_name) if resumed else None
        if existing is None:
            if resumed:
                self._check_for_late_upload(slot)
            with context.open_original() as original:
                existing = self.client.upload_file(slot.remote_name, original)
        if not filestore.mark_uploaded(slot, existing.id):
            # The document was deleted while the bytes travelled and its slot released: the
            # ledger holds the file again, and the ClaimLost handler deletes it.
            raise ClaimLost(context.document.pk)
        context.remote_file(existing.id)
        return existing

    @staticmethod
    def _check_for_late_upload(slot: RemoteFile) -> None:
        """The killed run's upload may still land after this run uploads again (the provider
        finishes a request whose client died): a reconcile shortly after deletes the second
        copy (`reconcile._handle_orphans`), instead of the next 15-minute sweep."""
        from apps.moonshot.tasks import reconcile_files

        delay = settings.MOONSHOT_LATE_UPLOAD_CHECK_SECONDS
        if cache.add(f"moonshot:late-upload-check:{slot.pk}", 1, timeout=delay):
            reconcile_files.apply_async(kwargs={"trigger": "late-upload"}, countdown=delay)

    def _find_by_name(self, remote_name: str) -> RemoteFileInfo | None:
        """Only after a crash (a reserved slot): did our upload reach the provider anyway?"""
        for item in self.client.list_files():
            if item.filename == remote_name:
                return item
        return None

    def _apply_retention(self, slot: RemoteFile) -> None:
        """Default policy: the text is about to be cached, so the remote copy goes now."""
        if FileStorePolicy.current().retention == Retention.KEEP:
            return
        self._discard(slot, "deleted after extraction")

    def _discard(self, slot: RemoteFile, note: str) -> None:
        """Delete the copy now; if the provider does not answer, the slot stays held and is
        queued for release with backoff (the text, if any, is safe either way)."""
        if not filestore.discard(slot, self.client, note=note):
            from apps.moonshot.tasks import schedule_release

            schedule_release()

    def _after_transient(self, slot: RemoteFile, error: errors.MoonshotError) -> None:
        logger.info("provider busy (%s); %s will be retried", error.admin_message, slot)
        if isinstance(error, errors.FileCountExceededError):
            # The provider counts files we do not know of: reconcile, then try again.
            filestore.release(slot, note="provider file store full")
            self._request_reconcile()

    @staticmethod
    def _request_reconcile() -> None:
        """At most one reconcile a minute, however many documents are waiting for a slot."""
        from apps.moonshot.tasks import reconcile_files

        if cache.add("moonshot:reconcile-requested", 1, timeout=60):
            reconcile_files.delay(trigger="file-limit")


def provider_strategy(document: Document) -> ProviderStrategy:
    return ProviderStrategy()

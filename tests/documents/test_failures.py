"""Failure messages fit the kind of failure: no "Please retry" for what retrying cannot fix,
and the provider's extraction errors told apart by kind."""

from __future__ import annotations

import pytest
from django.utils import translation

from apps.documents.failures import MESSAGES, describe, provider_failure


def test_no_failure_message_says_please_retry():
    with translation.override("en"):
        for code in MESSAGES:
            message = describe(code, {"kind": "PDF", "attempts": 3, "detail": "x"})
            assert "Please retry" not in message, code


@pytest.mark.parametrize(
    ("detail", "code"),
    [
        ("Failed to extract file: the PDF is encrypted", "encrypted"),
        ("Failed to extract file: no text layer in the PDF (scanned images)", "provider_no_text"),
        ("Failed to extract file: PdfReadError: Invalid object in /Pages", "provider_unreadable"),
        ("extract task failed: failed", "provider_unreadable"),
    ],
)
def test_provider_extraction_failures_get_a_message_of_their_kind(detail, code):
    failure = provider_failure(detail)
    assert failure.code == code
    assert detail in failure.english  # the provider's words stay for the admin


def test_a_provider_reason_with_nul_and_a_surrogate_still_fails_the_document_cleanly(
    provider_settings, owner_membership
):
    """The provider's reason can echo the file's bytes; PostgreSQL refuses NUL in text and in
    jsonb, so an unclean reason used to leave the document stuck in "extracting"."""
    from apps.documents import pipeline, services
    from apps.documents.models import Document, Status

    from .conftest import upload

    provider_settings.faults.fail_extraction_for(".txt", reason="bad\x00byte \ud800 here")
    document = services.ingest_upload(
        actor=owner_membership, upload=upload("odd.txt", b"some text")
    ).document
    pipeline.run_extraction(document.pk)
    document = Document.objects.get(pk=document.pk)
    assert document.status == Status.FAILED and document.failure_code == "provider_unreadable"
    assert "badbyte \ufffd here" in document.failure_message
    assert "badbyte \ufffd here" in document.failure_reason

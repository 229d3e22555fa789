"""The extraction pipeline and state machine, called directly (the worker tests run it for real)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.documents import pipeline, services, transitions
from apps.documents.extractors import ExtractionResult
from apps.documents.failures import ExtractionDeferred
from apps.documents.models import Document, ExtractedText, Status
from apps.documents.selectors import text_page
from apps.workspaces.services import create_workspace
from tests.samples import make_blank_pdf, make_png, make_xlsx

from .conftest import stored_files, upload


def _ingest(membership, name: str, data: bytes) -> Document:
    return services.ingest_upload(actor=membership, upload=upload(name, data)).document


def test_text_file_becomes_ready_with_cached_text(owner_membership):
    document = _ingest(owner_membership, "notes.md", "# Notes\n\n你好 DocQA".encode())
    pipeline.run_extraction(document.pk, task_id="t1")
    document.refresh_from_db()
    assert document.status == Status.READY and document.attempts == 1
    assert document.extractor == "local:text"
    assert document.text.text == "# Notes\n\n你好 DocQA"
    assert document.text.token_count > 0
    content = json.loads(document.text.content)
    assert content == {
        "content": "# Notes\n\n你好 DocQA",
        "file_type": "text/markdown",
        "filename": "notes.md",
        "title": "",
        "type": "file",
    }
    assert list(content) == sorted(content) and ", " not in document.text.content[:30]


def test_spreadsheet_text_keeps_sheets_and_cells(owner_membership):
    data = make_xlsx({"Budget": [["Item", "Cost"], ["Tea", 3.5]], "Empty": []})
    document = _ingest(owner_membership, "budget.xlsx", data)
    pipeline.run_extraction(document.pk)
    document.refresh_from_db()
    assert document.text.text == "# Budget\nItem\tCost\nTea\t3.5"


def test_html_text_drops_scripts_and_markup(owner_membership):
    html = (
        b"<html><head><title>t</title><script>alert(1)</script></head>"
        b"<body><h1>Hi</h1><p>A &amp; B</p></body></html>"
    )
    document = _ingest(owner_membership, "page.html", html)
    pipeline.run_extraction(document.pk)
    document.refresh_from_db()
    assert document.text.text == "Hi\nA & B"


def test_images_need_the_provider(owner_membership):
    document = _ingest(owner_membership, "scan.png", make_png())
    pipeline.run_extraction(document.pk)
    document.refresh_from_db()
    assert document.status == Status.FAILED and document.failure_code == "needs_provider"
    assert "Moonshot API key" in document.failure_message
    assert document.failure_reason == document.failure_message  # English here


def test_a_pdf_without_text_fails_instead_of_being_silently_ready(owner_membership):
    document = _ingest(owner_membership, "scan.pdf", make_blank_pdf())
    pipeline.run_extraction(document.pk)
    document.refresh_from_db()
    assert document.status == Status.FAILED and document.failure_code == "no_text"
    assert not ExtractedText.objects.exists()


def test_failure_reasons_follow_the_readers_language(owner_membership):
    from django.utils import translation

    document = _ingest(owner_membership, "scan.png", make_png())
    pipeline.run_extraction(document.pk)
    document.refresh_from_db()
    with translation.override("zh-hans"):
        assert "Moonshot" in document.failure_message
        assert document.failure_message != document.failure_reason


def test_a_second_run_of_the_same_task_is_a_no_op(owner_membership):
    document = _ingest(owner_membership, "a.txt", b"alpha")
    pipeline.run_extraction(document.pk, task_id="t1")
    pipeline.run_extraction(document.pk, task_id="t1")
    pipeline.run_extraction(document.pk, task_id="t2")
    document.refresh_from_db()
    assert document.status == Status.READY and document.attempts == 1


def test_another_task_cannot_take_a_document_in_progress(owner_membership):
    document = _ingest(owner_membership, "a.txt", b"alpha")
    assert transitions.claim(document.pk, task_id="first", to=Status.EXTRACTING)
    pipeline.run_extraction(document.pk, task_id="second")
    document.refresh_from_db()
    assert document.status == Status.EXTRACTING and document.task_id == "first"
    assert document.attempts == 1


def test_a_redelivered_message_resumes_and_counts_an_interruption_not_an_attempt(
    owner_membership,
):
    document = _ingest(owner_membership, "a.txt", b"alpha")
    transitions.claim(document.pk, task_id="same", to=Status.EXTRACTING)  # then the worker died
    pipeline.run_extraction(document.pk, task_id="same")
    document.refresh_from_db()
    assert document.status == Status.READY
    assert (document.attempts, document.interruptions) == (1, 1)


def test_kills_beyond_the_attempt_budget_do_not_fail_the_document(owner_membership):
    """Issue 16 (11): five SIGKILLs of the pool mid-extraction (more than the 3 attempts meant
    for bad content) and the document still ends READY."""
    document = _ingest(owner_membership, "a.txt", b"alpha")
    transitions.claim(document.pk, task_id="same", to=Status.EXTRACTING)
    for _kill in range(5):  # each redelivery is taken, and its worker killed again
        assert transitions.claim(document.pk, task_id="same", to=Status.EXTRACTING)
    pipeline.run_extraction(document.pk, task_id="same")
    document.refresh_from_db()
    assert document.status == Status.READY, document.failure_reason
    assert (document.attempts, document.interruptions) == (1, 6)


def test_out_of_attempts_the_document_fails(owner_membership):
    document = _ingest(owner_membership, "a.txt", b"alpha")
    Document.objects.filter(pk=document.pk).update(
        status=Status.EXTRACTING,
        task_id="poison",
        attempts=1,
        interruptions=document.max_interruptions - 1,
    )
    pipeline.run_extraction(document.pk, task_id="poison")
    document.refresh_from_db()
    assert document.status == Status.FAILED and document.failure_code == "attempts_exhausted"
    assert f"interrupted {document.max_interruptions} times" in document.failure_message


def test_max_attempts_comes_from_settings_and_is_stored_on_the_row(settings, owner_membership):
    settings.DOCQA_EXTRACT_MAX_ATTEMPTS = 7
    assert _ingest(owner_membership, "a.txt", b"alpha").max_attempts == 7


class _ProviderLike:
    """Walks the provider path's steps through the context, like the Moonshot strategy will."""

    name = "fake-provider"
    initial_status = Status.UPLOADING

    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    def extract(self, context):
        self.seen.append(Document.objects.get(pk=context.document.pk).status)
        context.remote_file("cq1234567890abcdefgh")
        context.extracting()
        self.seen.append(Document.objects.get(pk=context.document.pk).status)
        with context.open_original() as file:
            text = file.read().decode()
        return ExtractionResult(text=text, content='{"content":"x"}', extractor="moonshot")


def test_provider_path_steps_through_uploading_and_extracting(monkeypatch, owner_membership):
    seen: list[str] = []
    monkeypatch.setattr(pipeline, "choose_strategy", lambda document: _ProviderLike(seen))
    document = _ingest(owner_membership, "a.txt", b"alpha")
    pipeline.run_extraction(document.pk, task_id="t")
    document.refresh_from_db()
    assert seen == [Status.UPLOADING, Status.EXTRACTING]
    assert document.status == Status.READY and document.extractor == "moonshot"
    assert document.remote_file_id == "cq1234567890abcdefgh"
    assert document.text.content == '{"content":"x"}'


def test_deferred_extraction_goes_back_to_the_queue_without_spending_an_attempt(
    monkeypatch, owner_membership
):
    class Busy(_ProviderLike):
        def extract(self, context):
            raise ExtractionDeferred(30)

    monkeypatch.setattr(pipeline, "choose_strategy", lambda document: Busy([]))
    document = _ingest(owner_membership, "a.txt", b"alpha")
    with pytest.raises(ExtractionDeferred):
        pipeline.run_extraction(document.pk, task_id="t")
    document.refresh_from_db()
    assert document.status == Status.QUEUED and document.attempts == 0


def test_a_document_deleted_during_extraction_leaves_no_text(monkeypatch, owner_membership):
    class DeletesFirst(_ProviderLike):
        def extract(self, context):
            Document.objects.filter(pk=context.document.pk).delete()
            return ExtractionResult(text="late", content="", extractor="local:text")

    monkeypatch.setattr(pipeline, "choose_strategy", lambda document: DeletesFirst([]))
    document = _ingest(owner_membership, "a.txt", b"alpha")
    pipeline.run_extraction(document.pk, task_id="t")
    assert not ExtractedText.objects.exists()


def test_unexpected_errors_fail_the_document_with_a_generic_reason(monkeypatch, owner_membership):
    class Broken(_ProviderLike):
        def extract(self, context):
            raise RuntimeError("boom")

    monkeypatch.setattr(pipeline, "choose_strategy", lambda document: Broken([]))
    document = _ingest(owner_membership, "a.txt", b"alpha")
    pipeline.run_extraction(document.pk, task_id="t")
    document.refresh_from_db()
    assert document.status == Status.FAILED and document.failure_code == "internal"
    assert "boom" not in document.failure_message


def test_same_bytes_in_one_workspace_point_to_the_existing_document(owner_membership, team):
    first = services.ingest_upload(actor=owner_membership, upload=upload("a.txt", b"same"))
    again = services.ingest_upload(actor=owner_membership, upload=upload("b.txt", b"same"))
    assert first.created and not again.created
    assert again.document.pk == first.document.pk and again.document.name == "a.txt"
    assert Document.objects.count() == 1 and len(stored_files(team)) == 1


def test_same_bytes_in_another_workspace_reuse_the_text_without_extraction(
    owner, owner_membership, django_capture_on_commit_callbacks
):
    first = _ingest(owner_membership, "a.txt", b"shared bytes")
    pipeline.run_extraction(first.pk)
    other = create_workspace(owner=owner, name="Other")
    membership = other.memberships.get()
    with django_capture_on_commit_callbacks() as callbacks:
        result = services.ingest_upload(
            actor=membership, upload=upload("copy.txt", b"shared bytes")
        )
    assert callbacks == []  # nothing enqueued
    document = result.document
    assert result.created and result.reused_text
    assert document.status == Status.READY and document.attempts == 0
    assert document.text_id == Document.objects.get(pk=first.pk).text_id
    assert document.extractor == "local:text"
    assert stored_files(other) == [f"{document.uuid}.txt"]


def test_reextract_replaces_the_cached_text(monkeypatch, owner_membership):
    document = _ingest(owner_membership, "a.txt", b"alpha")
    pipeline.run_extraction(document.pk)
    document.refresh_from_db()
    services.reextract_document(actor=owner_membership, document=document)
    document.refresh_from_db()
    assert document.status == Status.QUEUED and document.refresh_requested
    monkeypatch.setattr(pipeline, "choose_strategy", lambda d: _ProviderLike([]))
    pipeline.run_extraction(document.pk)
    document.refresh_from_db()
    assert document.status == Status.READY and document.extractor == "moonshot"
    assert document.text.extractor == "moonshot" and not document.refresh_requested
    assert ExtractedText.objects.count() == 1


def test_retry_a_failed_document_and_refuse_while_in_progress(owner_membership):
    document = _ingest(owner_membership, "scan.png", make_png())
    with pytest.raises(services.DocumentError, match="already being processed"):
        services.reextract_document(actor=owner_membership, document=document)
    pipeline.run_extraction(document.pk)
    document.refresh_from_db()
    services.reextract_document(actor=owner_membership, document=document)
    document.refresh_from_db()
    assert document.status == Status.QUEUED and document.attempts == 0
    assert document.failure_code == ""


def test_delete_removes_the_file_and_unshared_text(
    owner, owner_membership, team, django_capture_on_commit_callbacks
):
    first = _ingest(owner_membership, "a.txt", b"kept text")
    pipeline.run_extraction(first.pk)
    other = create_workspace(owner=owner, name="Other")
    copy = services.ingest_upload(
        actor=other.memberships.get(), upload=upload("a.txt", b"kept text")
    ).document
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_document(actor=owner_membership, document=Document.objects.get(pk=first.pk))
    assert stored_files(team) == []
    assert ExtractedText.objects.filter(pk=copy.text_id).exists()  # still used by the copy
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_document(actor=other.memberships.get(), document=copy)
    assert not ExtractedText.objects.exists() and stored_files(other) == []


def _age(document: Document, seconds: int, **fields) -> None:
    Document.objects.filter(pk=document.pk).update(
        status_changed_at=timezone.now() - timedelta(seconds=seconds), **fields
    )


def test_sweep_requeues_lost_documents_and_fails_exhausted_ones(
    settings, owner_membership, django_capture_on_commit_callbacks
):
    settings.DOCQA_EXTRACT_STUCK_SECONDS = 600
    lost = _ingest(owner_membership, "lost.txt", b"lost")
    _age(lost, 700, status=Status.EXTRACTING, task_id="dead", attempts=1)
    spent = _ingest(owner_membership, "spent.txt", b"spent")
    _age(
        spent,
        700,
        status=Status.UPLOADING,
        task_id="dead",
        attempts=1,
        interruptions=spent.max_interruptions - 1,
    )
    waiting = _ingest(owner_membership, "waiting.txt", b"waiting")
    _age(waiting, 700)
    fresh = _ingest(owner_membership, "fresh.txt", b"fresh")
    _age(fresh, 10, status=Status.EXTRACTING, task_id="alive", attempts=1)

    with django_capture_on_commit_callbacks() as callbacks:
        report = pipeline.sweep_stuck_documents()

    assert report.requeued == [lost.pk] and report.failed == [spent.pk]
    assert report.reenqueued == [waiting.pk] and len(callbacks) == 2
    states = dict(Document.objects.values_list("pk", "status"))
    assert states[lost.pk] == Status.QUEUED and states[spent.pk] == Status.FAILED
    assert states[waiting.pk] == Status.QUEUED and states[fresh.pk] == Status.EXTRACTING
    assert pipeline.sweep_stuck_documents().requeued == []  # timestamps were refreshed
    lost.refresh_from_db()
    assert (lost.attempts, lost.interruptions) == (0, 1)  # refunded: the next claim counts it


def test_long_texts_are_paged(owner_membership):
    document = _ingest(owner_membership, "long.txt", ("x" * 99 + "\n").encode() * 500)
    pipeline.run_extraction(document.pk)
    document.refresh_from_db()
    first = text_page(document, 1, size=20_000)
    last = text_page(document, 99, size=20_000)
    assert first.count == 3 and len(first.text) == 20_000 and first.has_next
    assert last.number == 3 and last.total_chars == 49_999 and not last.has_next

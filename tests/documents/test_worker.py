"""Extraction through a real Celery worker process on the test database and Redis."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from apps.documents.models import FINAL, Document, ExtractedText, Status
from apps.documents.tasks import sweep_stuck_documents
from apps.workspaces.services import create_workspace
from tests.conftest import running_celery_worker
from tests.samples import make_docx, make_pdf, make_pptx, make_xlsx
from tests.test_workspace_access import login

pytestmark = pytest.mark.celery_worker


def _upload(client, workspace, name: str, data: bytes) -> dict:
    response = client.post(
        f"/w/{workspace.slug}/documents/upload/",
        {"file": SimpleUploadedFile(name, data)},
        headers={"Accept": "application/json"},
    )
    [result] = response.json()["results"]
    assert result["ok"], result["message"]
    return result


def _wait_final(*ids: int, timeout: float = 60) -> dict[int, Document]:
    deadline = time.monotonic() + timeout
    while True:
        documents = {d.pk: d for d in Document.objects.filter(pk__in=ids).select_related("text")}
        if all(d.status in FINAL for d in documents.values()) or time.monotonic() > deadline:
            return documents
        time.sleep(0.2)


def test_every_local_format_becomes_ready_with_its_text(celery_worker, team, member):
    client = login(member)
    files = {
        "report.pdf": (make_pdf("Quarterly report", "Revenue grew 12%"), "Revenue grew 12%"),
        "memo.docx": (
            make_docx("Memo to staff", table=[["Name", "Room"], ["Ada", "42"]]),
            "Ada | 42",
        ),
        "budget.xlsx": (make_xlsx({"Budget": [["Tea", 3.5]]}), "# Budget\nTea\t3.5"),
        "deck.pptx": (make_pptx(("Roadmap", "Ship documents")), "Ship documents"),
        "notes.txt": ("第一行\nsecond line".encode(), "第一行\nsecond line"),
    }
    ids = {
        name: _upload(client, team, name, data)["document"]["id"]
        for name, (data, _) in files.items()
    }
    documents = _wait_final(*ids.values())
    for name, (_data, expected) in files.items():
        document = documents[ids[name]]
        assert document.status == Status.READY, (name, document.failure_reason)
        assert expected in document.text.text, name
        assert (
            document.extractor
            == f"local:{name.rsplit('.', 1)[1] if name != 'notes.txt' else 'text'}"
        )
        assert document.text.token_count > 0 and document.attempts == 1


def test_duplicates_and_cross_workspace_reuse(celery_worker, team, owner, member):
    client = login(member)
    first = _upload(client, team, "a.pdf", make_pdf("Shared knowledge"))
    _wait_final(first["document"]["id"])
    again = _upload(client, team, "copy.pdf", make_pdf("Shared knowledge"))
    assert again["duplicate"] and again["document"]["id"] == first["document"]["id"]
    assert Document.objects.filter(workspace=team).count() == 1

    other = create_workspace(owner=owner, name="Other team")
    reused = _upload(login(owner), other, "mine.pdf", make_pdf("Shared knowledge"))
    assert reused["document"]["status"] == "ready"  # in the upload response: no extraction
    document = Document.objects.get(pk=reused["document"]["id"])
    assert document.attempts == 0 and document.task_id == ""
    assert document.text_id == Document.objects.get(pk=first["document"]["id"]).text_id
    assert ExtractedText.objects.count() == 1


def test_sweep_recovers_a_document_whose_task_was_lost(celery_worker, team, member):
    document_id = _upload(login(member), team, "lost.txt", b"recovered text")["document"]["id"]
    _wait_final(document_id)
    # As if a worker took it and died, and the broker lost the message.
    Document.objects.filter(pk=document_id).update(
        status=Status.EXTRACTING,
        task_id="dead-task",
        text=None,
        status_changed_at=timezone.now()
        - timedelta(seconds=settings.DOCQA_EXTRACT_STUCK_SECONDS + 5),
    )
    sweep_stuck_documents.delay()
    document = _wait_final(document_id)[document_id]
    assert document.status == Status.READY and document.interruptions == 1
    assert document.text.text == "recovered text"


def test_delete_removes_original_and_text(celery_worker, team, member):
    client = login(member)
    document_id = _upload(client, team, "gone.txt", b"soon gone")["document"]["id"]
    document = _wait_final(document_id)[document_id]
    path = Path(settings.MEDIA_ROOT) / document.storage_name
    assert path.exists()
    client.post(f"/w/{team.slug}/documents/{document_id}/delete/")
    assert not Document.objects.filter(pk=document_id).exists()
    assert not ExtractedText.objects.exists() and not path.exists()


def test_a_task_that_kills_its_worker_every_time_ends_failed(
    transactional_db, settings, team, member
):
    """SIGKILL mid-extraction (like the OOM killer): the message is redelivered, each run counts
    an attempt, and when the cap is reached the document is FAILED instead of looping forever."""
    settings.DOCQA_EXTRACT_MAX_INTERRUPTIONS = 2
    with running_celery_worker("tests.documents.crash_settings"):
        document_id = _upload(login(member), team, "poison.log", b"boom")["document"]["id"]
        document = _wait_final(document_id, timeout=90)[document_id]
    assert document.status == Status.FAILED, document.status
    assert document.failure_code == "attempts_exhausted" and document.interruptions == 2
    assert document.attempts == 1
    assert "interrupted 2 times" in document.failure_message

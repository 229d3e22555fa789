"""Ingestion through Moonshot's file-extract API (the emulator), with a real Celery worker."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client

from apps.documents.models import Document, Status
from apps.moonshot.models import (
    FileStorePolicy,
    FileStoreQuota,
    RemoteFile,
    RemoteFileState,
    Retention,
)
from apps.workspaces.services import create_workspace
from tests.conftest import PASSWORD, running_celery_worker
from tests.samples import make_docx, make_pdf
from tests.test_workspace_access import login

from .test_worker import _upload, _wait_final

pytestmark = pytest.mark.celery_worker


@pytest.fixture
def provider_worker(provider_settings, transactional_db):
    with running_celery_worker() as worker:
        yield worker


def _uploads(emulator) -> int:
    return emulator.state.count(method="POST", path="/v1/files")


def test_upload_becomes_ready_through_the_provider_and_the_remote_copy_is_deleted(
    provider_worker, emulator, team, member
):
    client = login(member)
    pdf = _upload(client, team, "plan.pdf", make_pdf("Plan", "Launch on 14 March 2027"))
    docx = _upload(client, team, "memo.docx", make_docx("The budget is 3.2 million yuan"))
    documents = _wait_final(pdf["document"]["id"], docx["document"]["id"])
    for document in documents.values():
        assert document.status == Status.READY, document.failure_reason
        assert document.extractor == "moonshot"
        assert document.text.content.startswith('{"content":')  # the provider's raw JSON
    assert "14 March 2027" in documents[pdf["document"]["id"]].text.text
    assert "3.2 million" in documents[docx["document"]["id"]].text.text
    assert emulator.state.files == {}  # default retention: deleted once the text is cached
    assert RemoteFile.objects.filter(state=RemoteFileState.DELETED).count() == 2
    quota = FileStoreQuota.objects.get(pk=1)
    assert (quota.files_used, quota.bytes_used) == (0, 0)


def test_duplicates_and_cross_workspace_reuse_make_no_provider_call(
    provider_worker, emulator, team, member
):
    client = login(member)
    data = make_pdf("Shared", "The answer is forty-two")
    first = _upload(client, team, "a.pdf", data)
    _wait_final(first["document"]["id"])
    assert _uploads(emulator) == 1
    again = _upload(client, team, "copy-of-a.pdf", data)
    assert again["duplicate"] and again["document"]["id"] == first["document"]["id"]
    other = create_workspace(owner=member, name="Other team")
    elsewhere = _upload(client, other, "a.pdf", data)
    [document] = _wait_final(elsewhere["document"]["id"]).values()
    assert document.status == Status.READY
    assert "forty-two" in document.text.text
    assert _uploads(emulator) == 1  # zero extra provider calls
    assert emulator.state.count(path_prefix="/v1/files") == 3  # upload, content, delete


def test_provider_extraction_failure_then_retry(provider_worker, emulator, team, member):
    # Remote files are named docqa-<uuid>.pdf, so the fault matches on the extension.
    emulator.faults.fail_extraction_for(".pdf", reason="no text layer")
    client = login(member)
    result = _upload(client, team, "scan.pdf", make_pdf("Scan", "Visible only after OCR"))
    [document] = _wait_final(result["document"]["id"]).values()
    assert document.status == Status.FAILED and document.failure_code == "provider_no_text"
    assert "found no text in this file" in document.failure_message
    assert "no text layer" in document.failure_reason  # the provider's words, for the admin
    assert emulator.state.files == {}  # the failed remote copy was deleted too
    page = client.get(f"/w/{team.slug}/documents/{document.pk}/").content.decode()
    assert "found no text in this file" in page and "Retry" in page
    emulator.faults.clear()
    client.post(f"/w/{team.slug}/documents/{document.pk}/reextract/")
    [document] = _wait_final(document.pk).values()
    assert document.status == Status.READY and "Visible only after OCR" in document.text.text


def test_a_429_storm_still_ends_ready_without_a_user_visible_error(
    provider_settings, transactional_db, emulator, team, member, monkeypatch
):
    # An RPM 429 cools every process down for what the provider asked, longer on repeats; more
    # 429s than the client retries defer the document to a later task run.
    monkeypatch.setenv("MOONSHOT_RATE_WINDOW_SECONDS", "2")
    monkeypatch.setenv("DOCQA_PROVIDER_RETRY_SECONDS", "1")
    # Eight 429s in a row double the pause each time (1, 2, 4 s ...): capped at 2 s here.
    monkeypatch.setenv("MOONSHOT_COOLDOWN_MAX_SECONDS", "2")
    emulator.faults.fail_next(
        8,
        status=429,
        error_type="rate_limit_reached_error",
        message="Your account org-x<ak-y> request reached organization max RPM: 3, "
        "please try again after 1 seconds",
    )
    with running_celery_worker():
        client = login(member)
        result = _upload(client, team, "storm.pdf", make_pdf("Storm", "Calm after the storm"))
        [document] = _wait_final(result["document"]["id"], timeout=120).values()
    assert document.status == Status.READY
    assert not document.failure_reason
    assert emulator.state.rate_limited_count == 8
    assert emulator.state.files == {}


@pytest.mark.parametrize("step", ["content", "record"])
def test_worker_killed_mid_extraction_finishes_without_orphans(
    provider_settings, transactional_db, emulator, team, member, monkeypatch, tmp_path, step
):
    """SIGKILL at a provider step: Celery redelivers, the re-run adopts the slot and the
    uploaded file (found by name when its id was never saved), and nothing is left behind."""
    monkeypatch.setenv("DOCQA_TEST_CRASH_AT", step)
    monkeypatch.setenv("DOCQA_TEST_CRASH_MARKER", str(tmp_path / "crashed"))
    with running_celery_worker("tests.documents.provider_crash_settings"):
        client = login(member)
        result = _upload(client, team, "kill.pdf", make_pdf("Kill", "Survives a SIGKILL"))
        [document] = _wait_final(result["document"]["id"], timeout=90).values()
    assert (tmp_path / "crashed").exists()  # the worker really died once
    assert document.status == Status.READY, document.failure_reason
    assert (document.attempts, document.interruptions) == (1, 1)  # a kill is no attempt
    assert "Survives a SIGKILL" in document.text.text
    assert _uploads(emulator) == 1  # the re-run did not upload a second copy
    assert emulator.state.files == {}  # no orphan on the provider
    assert FileStoreQuota.objects.get(pk=1).files_used == 0


def test_fifty_concurrent_uploads_never_exceed_a_cap_of_ten(
    provider_settings, transactional_db, emulator, team, member, monkeypatch
):
    """The issue-6 race: many workers, one ledger; the provider never holds more than the cap.

    Under the "keep" policy remote copies pile up, so the cap is really reached and the least
    recently used copies must be evicted to make room, while four processes race for slots.
    """
    monkeypatch.setenv("MOONSHOT_FILE_SLOTS", "10")
    monkeypatch.setenv("DOCQA_PROVIDER_RETRY_SECONDS", "1")  # a document waiting for a slot
    FileStorePolicy.objects.update_or_create(
        pk=1, defaults={"retention": Retention.KEEP, "keep_files": 900, "keep_bytes": 10**12}
    )
    ids: list[int] = []
    lock = threading.Lock()

    def upload(start: int) -> None:
        client = Client()
        client.login(email=member.email, password=PASSWORD)
        try:
            for i in range(start, start + 10):
                result = _upload(client, team, f"doc-{i}.txt", f"Document number {i}.".encode())
                with lock:
                    ids.append(result["document"]["id"])
        finally:
            connection.close()

    with running_celery_worker(concurrency=4):
        threads = [threading.Thread(target=upload, args=(n * 10,)) for n in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        documents = _wait_final(*ids, timeout=240)
    assert len(documents) == 50
    assert all(d.status == Status.READY for d in documents.values()), {
        d.pk: d.failure_reason for d in documents.values() if d.status != Status.READY
    }
    assert emulator.state.max_files_seen == 10  # the cap was reached, and never exceeded
    assert emulator.state.count(method="POST", path="/v1/files") == 50  # one upload each
    assert len(emulator.state.files) == 10  # kept copies, the rest evicted
    assert FileStoreQuota.objects.get(pk=1).files_used == 10
    assert Document.objects.filter(text__text__startswith="Document number").count() == 50

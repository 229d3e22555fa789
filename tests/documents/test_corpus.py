"""Real-world PDFs (py-pdf/sample-files) through upload → extraction by a real worker → detail
page: each ends ``ready`` with the text pypdf finds, or with a specific, human message.

The vendored files (tests/corpus) always run, through the provider emulator and through the
local extractors. The whole public repository runs when its mirror is on the machine.
"""

from __future__ import annotations

import hashlib
from pathlib import PurePosixPath

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils.html import escape

from apps.documents.models import Document, Status
from tests.conftest import running_celery_worker
from tests.test_workspace_access import login

from .corpus import (
    DAMAGED,
    ENCRYPTED,
    FAILURE_CODES,
    MIRROR,
    NO_TEXT,
    TEXT,
    Expected,
    expected,
    mirror_pdfs,
    vendored_pdfs,
    words,
)
from .test_worker import _wait_final

pytestmark = pytest.mark.celery_worker

JSON = {"Accept": "application/json"}


def _check(client, name: str, want: Expected, result: dict, document: Document | None) -> str:
    """What is wrong with how this PDF ended ("" when nothing is)."""
    if want.kind == ENCRYPTED:
        if result["ok"] or "password-protected" not in result["message"]:
            return f"an encrypted PDF must be refused as password-protected, got {result}"
        return ""
    if not result["ok"]:
        return f"refused at upload: {result['message']}"
    assert document is not None
    page = client.get(result["url"]).content.decode()
    if want.kind == TEXT:
        if document.status != Status.READY:
            return f"pypdf finds text, but it ended {document.status}: {document.failure_reason}"
        if words(document.text.text) != words(want.text):
            return "the stored text is not the text pypdf finds"
        first_line = next(line for line in document.text.text.splitlines() if line.strip())
        if escape(first_line[:60]) not in page:
            return "the detail page does not show the text"
        return ""
    if document.status != Status.FAILED or document.failure_code not in FAILURE_CODES[want.kind]:
        return (
            f"pypdf finds {want.kind}: expected failed with one of {FAILURE_CODES[want.kind]}, "
            f"got {document.status} {document.failure_code!r} {document.failure_reason!r}"
        )
    message = document.failure_message
    if "retry" in message.lower() or escape(message) not in page:
        return f"the failure message is not shown, or says retry: {message!r}"
    return ""


def _run(client, team, pdfs: dict[str, bytes]) -> list[str]:
    """Upload each distinct PDF, wait until every one is final, and list what went wrong."""
    url = reverse("documents:upload", args=[team.slug])
    results: dict[str, dict] = {}
    seen: set[str] = set()
    for path, data in pdfs.items():
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen:  # the same bytes under another name: one document, tested once
            continue
        seen.add(digest)
        upload = SimpleUploadedFile(PurePosixPath(path).name, data)
        [results[path]] = client.post(url, {"file": upload}, headers=JSON).json()["results"]
    ids = [r["document"]["id"] for r in results.values() if r["ok"]]
    documents = _wait_final(*ids, timeout=240)
    problems = []
    for path, result in results.items():
        document = documents.get(result["document"]["id"]) if result["ok"] else None
        problem = _check(client, path, expected(pdfs[path]), result, document)
        if problem:
            problems.append(f"{path}: {problem}")
    return problems


@pytest.mark.parametrize("strategy", ["provider", "local"])
def test_vendored_real_pdfs_end_ready_with_pypdfs_text_or_a_human_message(
    strategy, request, transactional_db, team, member
):
    if strategy == "provider":
        request.getfixturevalue("provider_settings")
    pdfs = vendored_pdfs()
    kinds = {name: expected(data).kind for name, data in pdfs.items()}
    # The vendored set covers every outcome, so this test cannot pass by having nothing to say.
    assert set(kinds.values()) == {TEXT, ENCRYPTED, NO_TEXT, DAMAGED}, kinds
    client = login(member)
    with running_celery_worker():
        problems = _run(client, team, pdfs)
    assert not problems, "\n".join(problems)
    # The thesis whose NUL bytes used to fail the whole document (issue 16, point 1).
    thesis = Document.objects.select_related("text").get(name="GeoTopo-komprimiert.pdf")
    assert "\x00" not in thesis.text.text and "Topologie" in thesis.text.text
    assert thesis.extractor == ("moonshot" if strategy == "provider" else "local:pdf")
    # Not refused at upload for metadata pypdf cannot read (issue 16, point 5).
    assert Document.objects.filter(name="unreadablemetadata.pdf").exists()


def test_every_pdf_of_the_public_sample_repository(
    provider_settings, transactional_db, team, member
):
    """Every PDF of py-pdf/sample-files that is not vendored (those run above), through the
    provider emulator."""
    pdfs = mirror_pdfs()
    if pdfs is None:
        pytest.skip(
            f"no bare mirror of py-pdf/sample-files at {MIRROR} "
            "(fetch github:py-pdf/sample-files or set DOCQA_PDF_CORPUS_MIRROR)"
        )
    vendored = {hashlib.sha256(d).hexdigest() for d in vendored_pdfs().values()}
    rest = {p: d for p, d in pdfs.items() if hashlib.sha256(d).hexdigest() not in vendored}
    assert len(rest) >= 20, sorted(pdfs)  # the mirror is the whole repository, not a stub
    with running_celery_worker():
        problems = _run(login(member), team, rest)
    assert not problems, "\n".join(problems)

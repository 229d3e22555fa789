"""Document pages over HTTP: roles, per-file messages, JSON for the upload script, downloads."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.documents import pipeline
from apps.documents.models import Document, Status
from apps.workspaces.services import create_workspace
from tests.samples import ELF_HEADER, make_pdf
from tests.test_workspace_access import login

from .conftest import stored_files


def _url(name: str, team, *args) -> str:
    return reverse(f"documents:{name}", args=[team.slug, *args])


def _post_files(client, team, *files, json: bool = True):
    headers = {"Accept": "application/json"} if json else {}
    return client.post(_url("upload", team), {"file": list(files)}, headers=headers)


def test_member_uploads_and_gets_json_with_a_row(team, member):
    response = _post_files(login(member), team, SimpleUploadedFile("plan.pdf", make_pdf("Plan")))
    assert response.status_code == 200
    [result] = response.json()["results"]
    document = Document.objects.get()
    assert result["ok"] and result["document"]["id"] == document.pk
    assert result["document"]["status"] == "queued" and not result["document"]["final"]
    assert f'id="doc-{document.pk}"' in result["document"]["html"]
    assert result["message"] == "plan.pdf uploaded; extracting its text."
    assert document.uploaded_by == member


def test_each_file_gets_its_own_message(team, member):
    response = _post_files(
        login(member),
        team,
        SimpleUploadedFile("good.txt", b"fine"),
        SimpleUploadedFile("empty.txt", b""),
        SimpleUploadedFile("evil.pdf", ELF_HEADER),
    )
    results = {r["name"]: r for r in response.json()["results"]}
    assert results["good.txt"]["ok"]
    assert results["empty.txt"]["message"] == "empty.txt is empty."
    assert "looks like an executable program" in results["evil.pdf"]["message"]
    assert Document.objects.count() == 1 and len(stored_files(team)) == 1


def test_refused_single_upload_is_a_400(team, member):
    response = _post_files(login(member), team, SimpleUploadedFile("a.exe", b"MZ"))
    assert response.status_code == 400
    assert ".exe files are not supported" in response.json()["results"][0]["message"]


def test_oversized_files_are_dropped_while_received(settings, team, member):
    settings.DOCQA_MAX_UPLOAD_BYTES = 1000
    response = _post_files(
        login(member),
        team,
        SimpleUploadedFile("huge.txt", b"x" * 5000),
        SimpleUploadedFile("small.txt", b"x" * 10),
    )
    results = {r["name"]: r for r in response.json()["results"]}
    assert results["huge.txt"]["message"] == "huge.txt is more than the limit of 1000\xa0bytes."
    assert results["small.txt"]["ok"]
    assert list(Document.objects.values_list("name", flat=True)) == ["small.txt"]


def test_plain_form_upload_redirects_with_messages(team, member):
    client = login(member)
    response = _post_files(
        client,
        team,
        SimpleUploadedFile("a.txt", b"a"),
        SimpleUploadedFile("b.zip", b"PK"),
        json=False,
    )
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "a.txt uploaded; extracting its text." in page
    assert ".zip files are not supported (b.zip)." in page


def test_duplicate_upload_is_reported(team, member):
    client = login(member)
    _post_files(client, team, SimpleUploadedFile("a.txt", b"same"))
    response = _post_files(client, team, SimpleUploadedFile("again.txt", b"same"))
    [result] = response.json()["results"]
    assert result["ok"] and result["duplicate"]
    assert result["message"] == "again.txt is already in this workspace as “a.txt”."
    assert Document.objects.count() == 1


def test_viewer_gets_403_and_outsider_404_for_uploads(team, viewer, outsider):
    for user, status in ((viewer, 403), (outsider, 404)):
        response = _post_files(login(user), team, SimpleUploadedFile("a.txt", b"a"))
        assert response.status_code == status
    assert not Document.objects.exists() and stored_files(team) == []


def test_upload_checks_csrf(team, member):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    response = _post_files(client, team, SimpleUploadedFile("a.txt", b"a"))
    assert response.status_code == 403
    assert not Document.objects.exists()


@pytest.fixture
def ready_doc(team, member):
    _post_files(login(member), team, SimpleUploadedFile("notes.txt", b"line one\nline two"))
    document = Document.objects.get()
    pipeline.run_extraction(document.pk)
    document.refresh_from_db()
    return document


def test_list_shows_documents_filters_and_search(team, viewer, ready_doc):
    client = login(viewer)
    page = client.get(_url("list", team)).content.decode()
    assert "notes.txt" in page and "status-ready" in page and "member@example.com" in page
    assert "data-uploader" not in page  # viewers get no upload box
    assert "notes.txt" not in client.get(_url("list", team), {"status": "failed"}).content.decode()
    assert "notes.txt" not in client.get(_url("list", team), {"q": "other"}).content.decode()
    assert "notes.txt" in client.get(_url("list", team), {"q": "NOTES"}).content.decode()


def test_empty_state(team, member):
    page = login(member).get(_url("list", team)).content.decode()
    assert "No documents yet" in page and "data-uploader" in page


def test_detail_shows_text_and_actions(team, member, ready_doc):
    page = login(member).get(_url("detail", team, ready_doc.pk)).content.decode()
    assert "line one\nline two" in page
    assert "Re-extract" in page and "Delete" in page and "Download original" in page


def test_failed_detail_shows_reason_and_retry(team, member):
    client = login(member)
    _post_files(
        client, team, SimpleUploadedFile("x.png", bytes.fromhex("89504e470d0a1a0a") + b"\0" * 40)
    )
    document = Document.objects.get()
    pipeline.run_extraction(document.pk)
    page = client.get(_url("detail", team, document.pk)).content.decode()
    assert "Extraction failed." in page and "Moonshot API key" in page and "Retry" in page
    response = client.post(_url("reextract", team, document.pk))
    assert response.status_code == 302
    assert Document.objects.get().status == Status.QUEUED


def test_status_endpoint_returns_rows_of_this_workspace_only(team, owner, member, ready_doc):
    other = create_workspace(owner=owner, name="Elsewhere")
    foreign = Document.objects.create(
        workspace=other, name="x.txt", storage_name="x", size=1, sha256="f" * 64, extension="txt"
    )
    response = login(member).get(_url("status", team), {"ids": f"{ready_doc.pk},{foreign.pk},x"})
    [row] = response.json()["documents"]
    assert row["id"] == ready_doc.pk and row["final"] and "status-ready" in row["html"]


@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous")
def test_download_is_an_attachment(team, viewer, ready_doc):
    response = login(viewer).get(_url("download", team, ready_doc.pk))
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="notes.txt"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response) == b"line one\nline two"


def test_html_is_never_served_as_html(team, member):
    client = login(member)
    _post_files(client, team, SimpleUploadedFile("x.html", b"<script>alert(1)</script>"))
    response = client.get(_url("download", team, Document.objects.get().pk))
    assert response["Content-Type"] == "application/octet-stream"
    assert "sandbox" in response["Content-Security-Policy"]


def test_other_workspaces_documents_are_404(team, owner, member):
    other = create_workspace(owner=owner, name="Elsewhere")
    foreign = Document.objects.create(
        workspace=other, name="x.txt", storage_name="x", size=1, sha256="f" * 64, extension="txt"
    )
    client = login(member)
    for name in ("detail", "download"):
        assert client.get(_url(name, team, foreign.pk)).status_code == 404
    for name in ("reextract", "delete"):
        assert client.post(_url(name, team, foreign.pk)).status_code == 404
    assert Document.objects.filter(pk=foreign.pk).exists()


def test_delete_via_page(team, member, ready_doc):
    client = login(member)
    response = client.post(_url("delete", team, ready_doc.pk))
    assert response.status_code == 302
    assert not Document.objects.exists()
    assert "notes.txt was deleted." in client.get(response["Location"]).content.decode()


def test_documents_tab_is_in_the_workspace_header(team, member):
    page = login(member).get(reverse("workspaces:detail", args=[team.slug])).content.decode()
    assert f'href="{_url("list", team)}"' in page

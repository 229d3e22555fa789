"""/api/v1/documents: upload with the UI's checks and messages, list, get, text, re-extract,
delete; roles (viewer keys only read), tenants (another workspace's id is a 404), bad input."""

from __future__ import annotations

from datetime import timedelta

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from apps.api.models import IdempotentRequest
from apps.documents.models import Document, Status
from tests.chat.conftest import ready_document
from tests.samples import ELF_HEADER, make_pdf


def test_upload_one_file(api, team, owner):
    response = api.upload(SimpleUploadedFile("plan.pdf", make_pdf("Plan")))
    assert response.status_code == 200
    [result] = response.json()["results"]
    document = Document.objects.get()
    assert result["ok"] and result["document"]["id"] == document.pk
    assert result["document"]["status"] == "queued" and not result["document"]["final"]
    assert result["message"] == "plan.pdf uploaded; extracting its text."
    assert document.workspace == team and document.uploaded_by == owner  # the key's creator


def test_upload_many_files_each_with_the_ui_message(api, settings):
    settings.DOCQA_MAX_UPLOAD_BYTES = 1000
    response = api.upload(
        SimpleUploadedFile("good.txt", b"fine"),
        SimpleUploadedFile("empty.txt", b""),
        SimpleUploadedFile("evil.pdf", ELF_HEADER),
        SimpleUploadedFile("huge.txt", b"x" * 5000),
    )
    assert response.status_code == 200
    results = {r["name"]: r for r in response.json()["results"]}
    assert results["good.txt"]["ok"]
    assert results["empty.txt"]["message"] == "empty.txt is empty."
    assert "looks like an executable program" in results["evil.pdf"]["message"]
    assert results["huge.txt"]["message"] == "huge.txt is more than the limit of 1000\xa0bytes."
    assert list(Document.objects.values_list("name", flat=True)) == ["good.txt"]


def test_upload_refused_or_empty_is_a_400(api):
    refused = api.upload(SimpleUploadedFile("a.exe", b"MZ"))
    assert refused.status_code == 400
    assert ".exe files are not supported" in refused.json()["results"][0]["message"]
    nothing = api.client.post("/api/v1/documents", {}, headers=api.headers)
    assert nothing.status_code == 400
    assert nothing.json()["results"][0]["message"] == "Choose at least one file."


def test_duplicate_upload_is_reported(api):
    api.upload(SimpleUploadedFile("a.txt", b"same bytes"))
    again = api.upload(SimpleUploadedFile("b.txt", b"same bytes")).json()["results"][0]
    assert again["ok"] and again["duplicate"]
    assert again["message"] == "b.txt is already in this workspace as “a.txt”."


def test_upload_with_an_idempotency_key_happens_once(api):
    headers = {"Idempotency-Key": "batch-7"}
    first = api.upload(SimpleUploadedFile("a.txt", b"one"), headers=headers)
    second = api.upload(SimpleUploadedFile("other.txt", b"two"), headers=headers)
    assert second.status_code == first.status_code == 200
    assert second.json() == first.json()
    assert list(Document.objects.values_list("name", flat=True)) == ["a.txt"]
    assert IdempotentRequest.objects.count() == 1
    api.upload(SimpleUploadedFile("other.txt", b"two"), headers={"Idempotency-Key": "batch-8"})
    assert Document.objects.count() == 2


def test_a_failed_first_attempt_gives_the_idempotency_key_up(api):
    headers = {"Idempotency-Key": "k"}
    assert api.upload(SimpleUploadedFile("a.exe", b"MZ"), headers=headers).status_code == 400
    # The 400 is the stored outcome: a repeat gets it back without uploading.
    again = api.upload(SimpleUploadedFile("a.txt", b"fine"), headers=headers)
    assert again.status_code == 400 and not Document.objects.exists()


def test_viewer_keys_cannot_write(viewer_api, team):
    document = ready_document(team, "notes.txt", "Some text.")
    upload = viewer_api.upload(SimpleUploadedFile("a.txt", b"x"))
    assert upload.status_code == 403 and upload.json()["code"] == "forbidden"
    assert viewer_api.post(f"/api/v1/documents/{document.pk}/reextract").status_code == 403
    assert viewer_api.delete(f"/api/v1/documents/{document.pk}").status_code == 403
    assert Document.objects.count() == 1
    assert viewer_api.get(f"/api/v1/documents/{document.pk}").status_code == 200


def test_list_filters_and_pages(api, team):
    for i in range(3):
        ready_document(team, f"doc{i}.txt", f"text {i}")
    Document.objects.filter(name="doc0.txt").update(status=Status.FAILED)
    listed = api.get("/api/v1/documents", {"page_size": 2}, content_type=None).json()
    assert listed["count"] == 3 and listed["pages"] == 2 and len(listed["items"]) == 2
    failed = api.get("/api/v1/documents?status=failed").json()
    assert [d["name"] for d in failed["items"]] == ["doc0.txt"]
    named = api.get("/api/v1/documents?q=doc2").json()
    assert [d["name"] for d in named["items"]] == ["doc2.txt"]


def test_list_bad_input_is_a_422_with_a_code(api):
    for query in ("status=nonsense", "page=0", "page_size=1000", "page=abc"):
        response = api.get(f"/api/v1/documents?{query}")
        assert response.status_code == 422, query
        assert response.json()["code"] == "invalid_input" and response.json()["message"]


def test_get_and_text_pages(api, team):
    document = ready_document(team, "long.txt", "a" * 25_000)
    got = api.get(f"/api/v1/documents/{document.pk}").json()
    assert got["status"] == "ready" and got["token_count"] > 0 and got["name"] == "long.txt"
    first = api.get(f"/api/v1/documents/{document.pk}/text").json()
    assert first["pages"] == 2 and first["total_chars"] == 25_000 and len(first["text"]) == 20_000
    second = api.get(f"/api/v1/documents/{document.pk}/text?page=2").json()
    assert len(second["text"]) == 5_000
    Document.objects.filter(pk=document.pk).update(status=Status.QUEUED)
    not_ready = api.get(f"/api/v1/documents/{document.pk}/text")
    assert not_ready.status_code == 409 and not_ready.json()["code"] == "not_ready"


def test_reextract_and_delete(api, team):
    document = ready_document(team, "notes.txt", "Some text.")
    queued = api.post(f"/api/v1/documents/{document.pk}/reextract")
    assert queued.status_code == 202 and queued.json()["status"] == "queued"
    again = api.post(f"/api/v1/documents/{document.pk}/reextract")
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    assert api.delete(f"/api/v1/documents/{document.pk}").status_code == 204
    assert not Document.objects.exists()
    assert api.get(f"/api/v1/documents/{document.pk}").status_code == 404


def test_another_workspaces_documents_are_404(foreign_api, team):
    document = ready_document(team, "secret.txt", "Secret.")
    for method, path in [
        ("get", f"/api/v1/documents/{document.pk}"),
        ("get", f"/api/v1/documents/{document.pk}/text"),
        ("post", f"/api/v1/documents/{document.pk}/reextract"),
        ("delete", f"/api/v1/documents/{document.pk}"),
    ]:
        response = getattr(foreign_api, method)(path)
        assert response.status_code == 404 and response.json()["code"] == "not_found", path
    assert foreign_api.get("/api/v1/documents").json()["count"] == 0
    assert Document.objects.get(pk=document.pk).status == Status.READY


def test_a_running_first_request_is_409_and_a_dead_ones_claim_is_taken_over(api, team):
    claim = IdempotentRequest.objects.create(workspace=team, route="documents.upload", key="k")
    running = api.upload(SimpleUploadedFile("a.txt", b"one"), headers={"Idempotency-Key": "k"})
    assert running.status_code == 409 and running.json()["code"] == "idempotency_in_progress"
    assert not Document.objects.exists()
    IdempotentRequest.objects.filter(pk=claim.pk).update(
        created_at=timezone.now() - timedelta(minutes=11)
    )
    retried = api.upload(SimpleUploadedFile("a.txt", b"one"), headers={"Idempotency-Key": "k"})
    assert retried.status_code == 200 and Document.objects.count() == 1


def test_upload_through_the_asgi_server(app_server, member_key, team):
    """The deployment path (uvicorn): the size-limit handler is installed before the body is
    read there too."""
    import httpx

    with httpx.Client(
        base_url=app_server.url, headers={"Authorization": f"Bearer {member_key}"}
    ) as client:
        response = client.post(
            "/api/v1/documents",
            files=[("file", ("a.md", b"# Title\n\nBody.")), ("file", ("b.txt", b"more"))],
        )
    assert response.status_code == 200, response.text
    assert [r["ok"] for r in response.json()["results"]] == [True, True]
    assert set(Document.objects.filter(workspace=team).values_list("name", flat=True)) == {
        "a.md",
        "b.txt",
    }


def test_a_failed_document_says_why(api, team):
    document = ready_document(team, "scan.pdf", "x")
    Document.objects.filter(pk=document.pk).update(
        status=Status.FAILED, failure_reason="The PDF has no text layer."
    )
    got = api.get(f"/api/v1/documents/{document.pk}").json()
    assert got["status"] == "failed" and got["failure_message"] == "The PDF has no text layer."
    assert got["final"] is True

"""Upload bodies Django refuses while parsing them (too much form data, too many fields or
files) get the same short, human refusal as a refused file: JSON for the page's script and API
clients, a message on the documents page for a plain form, and nothing stored."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.documents.models import Document
from tests.test_workspace_access import login

from .conftest import stored_files

JSON = {"Accept": "application/json"}


def _url(team) -> str:
    return reverse("documents:upload", args=[team.slug])


def _bodies(settings) -> list[tuple[str, dict, str]]:
    return [
        (
            "form data over DATA_UPLOAD_MAX_MEMORY_SIZE",
            {"note": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)},
            "more form data than DocQA accepts",
        ),
        (
            "more fields than DATA_UPLOAD_MAX_NUMBER_FIELDS",
            {f"f{i}": "1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)},
            "too many form fields",
        ),
        (
            "more files than DATA_UPLOAD_MAX_NUMBER_FILES",
            {
                "file": [
                    SimpleUploadedFile(f"{i}.txt", b"x")
                    for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FILES + 1)
                ]
            },
            f"Upload at most {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files at once.",
        ),
    ]


@pytest.mark.parametrize("case", [0, 1, 2], ids=["data", "fields", "files"])
def test_a_body_django_refuses_gets_the_upload_json_error(case, settings, team, member):
    _what, extra, message = _bodies(settings)[case]
    body = {"file": SimpleUploadedFile("a.txt", b"fine"), **extra}
    response = login(member).post(_url(team), body, headers=JSON)
    assert response.status_code in (400, 413)
    assert response["Content-Type"] == "application/json"
    [result] = response.json()["results"]
    assert result["ok"] is False and message in result["message"]
    assert "RequestDataTooBig" not in result["message"] and "Django" not in result["message"]
    assert not Document.objects.exists() and stored_files(team) == []


def test_a_30_mb_form_field_is_refused_with_a_human_message_on_the_page(team, member):
    client = login(member)
    body = {"file": SimpleUploadedFile("a.txt", b"fine"), "note": "x" * (30 * 1024 * 1024)}
    response = client.post(_url(team), body)
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "more form data than DocQA accepts" in page
    assert not Document.objects.exists() and stored_files(team) == []


def test_an_oversized_body_elsewhere_gets_a_human_400_page(client, db):
    """Outside the upload view (here the sign-in form) Django answers 400 itself; the page
    says what happened in words instead of a bare "Bad Request (400)"."""
    response = client.post(
        reverse("accounts:login"), {"email": "a@example.com", "note": "x" * (3 * 1024 * 1024)}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Request refused" in page and "too large or malformed" in page

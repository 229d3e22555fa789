"""Export zips in an S3-compatible bucket (moto on loopback), and a storage that fails."""

from __future__ import annotations

import io
import time
import zipfile

import httpx
import pytest
from django.conf import settings as django_settings
from django.core.files.storage import default_storage
from django.urls import reverse

from apps.exports import services
from apps.exports.models import ExportStatus, WorkspaceExport
from tests.documents.test_s3_storage import Bucket, bucket, s3_endpoint  # noqa: F401 (fixtures)

from .test_exports import login, two_turns

pytestmark = pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous")


def _wait_done(client, status_url: str) -> dict:
    deadline = time.monotonic() + 60
    while (status := client.get(status_url).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    return status


@pytest.mark.django_db(transaction=True)
def test_the_worker_writes_the_zip_to_the_bucket_and_expiry_deletes_it(
    bucket: Bucket,  # noqa: F811 (the fixture imported above)
    celery_worker,
    team,
    owner,
    settings,
):
    settings.EXPORT_DIRECT_MAX_CONVERSATIONS = 1
    conversations = [two_turns(team, owner) for _ in range(3)]
    client = login(owner)
    assert client.post(reverse("exports:start", args=[team.slug])).status_code == 302
    export = WorkspaceExport.objects.get(workspace=team)
    status = _wait_done(client, reverse("exports:status", args=[team.slug, export.pk]))
    assert status["status"] == "done", status
    export.refresh_from_db()
    assert bucket.keys() == [f"originals/{export.storage_name}"]

    body = b"".join(client.get(status["download_url"]))
    names = set(zipfile.ZipFile(io.BytesIO(body)).namelist())
    assert {f"conversations/{c.pk}-pump-maintenance.md" for c in conversations} <= names

    settings.DOCQA_STORAGE_REDIRECT_DOWNLOADS = True
    redirect = client.get(status["download_url"])
    assert redirect.status_code == 302 and bucket.name in redirect["Location"]
    assert httpx.get(redirect["Location"]).content == body

    settings.EXPORT_RETENTION_HOURS = 0
    assert services.delete_expired() == 1
    assert bucket.keys() == []
    assert client.get(status["download_url"]).status_code == 404


def test_a_storage_that_cannot_write_fails_the_export_with_a_message(
    team, owner, settings, tmp_path
):
    """A read-only media directory (a full disk, a bucket refusing writes behaves the same)."""
    root = tmp_path / "media"
    root.mkdir()
    (root / "exports").write_text("a file where the export folder should be")
    settings.STORAGES = {
        **django_settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": root},
        },
    }
    two_turns(team, owner)
    export = WorkspaceExport.objects.create(workspace=team, requested_by=owner, total=1)
    services.run_export(export.pk)
    export.refresh_from_db()
    assert export.status == ExportStatus.FAILED
    assert export.error == "The export could not be written. Please try again."
    assert export.storage_name == "" and export.finished_at is not None
    status = login(owner).get(reverse("exports:status", args=[team.slug, export.pk])).json()
    assert status == {
        "status": "failed", "label": "Failed", "done": 0, "total": 1, "percent": 0,
        "download_url": None, "error": "The export could not be written. Please try again.",
    }  # fmt: skip
    assert default_storage.listdir(".") == ([], ["exports"])  # nothing half-written

"""Originals in an S3-compatible bucket (docqa/storage.py, django-storages): moto's S3 server
on loopback stands in for MinIO or AWS, and the web process and a real Celery worker both use
it, as they would on separate hosts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import environ
import httpx
import pytest
from django.conf import settings as django_settings
from moto.server import ThreadedMotoServer

from apps.documents.models import Document, Status
from docqa.storage import default_storage_config
from tests.test_workspace_access import login

from .test_worker import _upload, _wait_final

REGION = "us-east-1"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@dataclass
class Bucket:
    name: str
    client: object

    def keys(self) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=self.name)  # type: ignore[attr-defined]
        return [item["Key"] for item in listing.get("Contents", [])]


@pytest.fixture
def bucket(s3_endpoint, settings, monkeypatch) -> Bucket:
    """A fresh bucket, configured the way an operator would: through the environment (which
    the worker process inherits) and so in this process's settings too."""
    name = f"docqa-{uuid.uuid4().hex[:10]}"
    for variable, value in {
        "DOCQA_STORAGE_URL": f"s3://{name}/originals",
        "AWS_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_S3_REGION_NAME": REGION,
        "AWS_ACCESS_KEY_ID": "test-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
    }.items():
        monkeypatch.setenv(variable, value)
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=REGION,
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",
    )
    client.create_bucket(Bucket=name)
    settings.STORAGES = {
        **django_settings.STORAGES,
        "default": default_storage_config(environ.Env(), Path(settings.MEDIA_ROOT)),
    }
    return Bucket(name, client)


@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous")
def test_upload_extract_download_and_delete_go_through_the_bucket(
    bucket, celery_worker, team, member
):
    client = login(member)
    document_id = _upload(client, team, "notes.txt", b"Valves are tested monthly.")["document"][
        "id"
    ]
    [key] = bucket.keys()
    assert key.startswith("originals/")

    document = _wait_final(document_id)[document_id]  # the worker read it from the bucket
    assert document.status == Status.READY, document.failure_reason
    assert document.text.text == "Valves are tested monthly."
    assert not (Path(django_settings.MEDIA_ROOT) / document.storage_name).exists()

    response = client.get(f"/w/{team.slug}/documents/{document_id}/download/")
    assert response.status_code == 200
    assert b"".join(response) == b"Valves are tested monthly."

    client.post(f"/w/{team.slug}/documents/{document_id}/delete/")
    assert not Document.objects.filter(pk=document_id).exists()
    assert bucket.keys() == []


@pytest.mark.django_db
def test_a_missing_object_is_explained_not_a_server_error(bucket, team, member):
    client = login(member)
    document_id = _upload(client, team, "gone.txt", b"soon gone")["document"]["id"]
    bucket.client.delete_object(Bucket=bucket.name, Key=bucket.keys()[0])  # type: ignore[attr-defined]

    response = client.get(f"/w/{team.slug}/documents/{document_id}/download/")
    assert response.status_code == 404
    assert "Original file missing" in response.text
    assert "gone.txt" in response.text


@pytest.mark.django_db
def test_downloads_can_redirect_to_a_short_lived_signed_url(bucket, settings, team, member):
    settings.DOCQA_STORAGE_REDIRECT_DOWNLOADS = True
    client = login(member)
    document_id = _upload(client, team, "report.txt", b"signed bytes")["document"]["id"]

    response = client.get(f"/w/{team.slug}/documents/{document_id}/download/")
    assert response.status_code == 302
    url = response["Location"]
    assert bucket.name in url and "X-Amz-Expires=60" in url
    fetched = httpx.get(url)
    assert fetched.status_code == 200 and fetched.content == b"signed bytes"
    assert 'filename="report.txt"' in fetched.headers["content-disposition"]


def test_the_storage_setting_reads_a_url_or_the_usual_bucket_variable(tmp_path, monkeypatch):
    for variable in ("DOCQA_STORAGE_URL", "AWS_STORAGE_BUCKET_NAME", "AWS_S3_ENDPOINT_URL"):
        monkeypatch.delenv(variable, raising=False)
    local = default_storage_config(environ.Env(), tmp_path)
    assert local["BACKEND"].endswith("FileSystemStorage")
    assert local["OPTIONS"]["location"] == tmp_path

    monkeypatch.setenv("AWS_STORAGE_BUCKET_NAME", "plain-bucket")
    options = default_storage_config(environ.Env(), tmp_path)["OPTIONS"]
    assert (options["bucket_name"], options["location"]) == ("plain-bucket", "")
    assert options["default_acl"] is None and options["file_overwrite"] is False

    monkeypatch.setenv("DOCQA_STORAGE_URL", "s3://docs/team/originals/")
    options = default_storage_config(environ.Env(), tmp_path)["OPTIONS"]
    assert (options["bucket_name"], options["location"]) == ("docs", "team/originals")

    monkeypatch.setenv("DOCQA_STORAGE_URL", "ftp://nowhere")
    with pytest.raises(ValueError, match="s3://bucket"):
        default_storage_config(environ.Env(), tmp_path)

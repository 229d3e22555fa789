"""The client against both readings of every point the reference leaves open (§2, §5.3, §12).

An independent implementation of the API, written from the same reference, may choose the other
way on each: an extracted file's status "ready" instead of "ok", the content endpoint answering
the bare text as text/plain, the observed `extract task failed` error with an empty type, a
`has_more` in the file list, usage only in a trailing chunk, keep-alive comments in the stream.
The emulator plays either reading on request; the app must work with both.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from apps.documents.models import Status
from apps.moonshot import errors
from apps.moonshot.types import FileContent
from tests.conftest import running_celery_worker
from tests.provider import API_KEY
from tests.samples import make_pdf
from tests.test_workspace_access import login
from tools.moonshot_emulator import EmulatorServer

DOC = "[plan.txt]\nThe launch is on 14 March 2027 in Hangzhou."
QUESTION = [
    {"role": "system", "content": DOC},
    {"role": "user", "content": "When is the launch?"},
]
OTHER_READING = {
    "file_status_ok": "ready",
    "content_format": "plain",
    "extract_error_style": "observed",
    "list_has_more": True,
    "stream_usage": "trailing",
    "stream_comments": True,
}
READINGS = {"documented": {}, "other": OTHER_READING}


@pytest.fixture(params=sorted(READINGS))
def reading(request, emulator: EmulatorServer) -> EmulatorServer:
    emulator.config.update(**READINGS[request.param])
    return emulator


def test_the_emulator_really_plays_the_other_reading(emulator: EmulatorServer):
    """The knobs change the wire, so the tests below exercise what they claim to."""
    emulator.config.update(**OTHER_READING)
    auth = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=emulator.base_url, headers=auth) as http:
        upload = http.post(
            "/files", files={"file": ("a.txt", b"Plain text.")}, data={"purpose": "file-extract"}
        ).json()
        assert upload["status"] == "ready"
        content = http.get(f"/files/{upload['id']}/content")
        assert content.headers["content-type"].startswith("text/plain")
        assert content.text == "Plain text."
        assert http.get("/files").json()["has_more"] is False
        emulator.faults.fail_extraction_for("bad")
        failed = http.post(
            "/files", files={"file": ("bad.txt", b"x")}, data={"purpose": "file-extract"}
        ).json()
        error = http.get(f"/files/{failed['id']}/content")
        assert error.status_code == 500
        assert error.json() == {"error": {"message": "extract task failed: failed", "type": ""}}
        body = {"model": "moonshot-v1-8k", "messages": QUESTION, "stream": True}
        stream = http.post("/chat/completions", json=body).text
    assert ": keep-alive\n" in stream
    events = [e for e in stream.split("\n\n") if e.strip()]
    chunks = [json.loads(e.split("data: ", 1)[1]) for e in events[:-1]]
    assert all("usage" not in c["choices"][0] for c in chunks if c["choices"])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


def test_file_round_trip(provider, reading):
    uploaded = provider.upload_file("plan.txt", DOC.encode())
    assert not uploaded.failed
    assert [f.id for f in provider.list_files()] == [uploaded.id]
    assert not provider.retrieve_file(uploaded.id).failed
    content = provider.file_content(uploaded.id)
    assert content.content.startswith("[plan.txt]") and "14 March 2027" in content.content
    assert provider.delete_file(uploaded.id) is True


def test_failed_extraction(provider, reading):
    reading.faults.fail_extraction_for("scan", reason="no text layer")
    remote = provider.upload_file("scan.pdf", b"%PDF-1.4 not really")
    assert remote.failed
    with pytest.raises(errors.ExtractionFailedError) as caught:
        provider.file_content(remote.id)
    assert "could not read text" in caught.value.user_message


def test_stream_text_and_usage(async_provider, reading):
    async def collect():
        return [c async for c in async_provider.stream_chat(QUESTION, model="moonshot-v1-8k")]

    chunks = asyncio.run(collect())
    assert "14 March 2027" in "".join(c.text for c in chunks)
    usages = [c.usage for c in chunks if c.usage is not None]
    assert len(usages) == 1 and usages[0].prompt_tokens > 0 and usages[0].completion_tokens > 0
    assert any(c.finish_reason == "stop" for c in chunks)


def test_extracted_json_text_is_not_mistaken_for_the_envelope():
    """With a text/plain content body, an extracted .json file is text, not the envelope."""
    raw = '{"name": "pump", "warranty_months": 24}'
    assert FileContent.from_raw(raw).content == raw
    envelope = json.dumps({"content": raw, "file_type": "application/json", "type": "file"})
    assert FileContent.from_raw(envelope).content == raw


@pytest.mark.celery_worker
def test_ingestion_under_the_other_reading(provider_settings, transactional_db, team, member):
    """The whole pipeline (a real worker, the provider path) under every other reading at once."""
    from tests.documents.test_worker import _upload, _wait_final

    provider_settings.config.update(**OTHER_READING)
    with running_celery_worker():
        client = login(member)
        result = _upload(client, team, "plan.pdf", make_pdf("Plan", "Launch on 14 March 2027"))
        [document] = _wait_final(result["document"]["id"]).values()
    assert document.status == Status.READY, document.failure_reason
    assert document.extractor == "moonshot"
    assert "14 March 2027" in document.text.text
    assert provider_settings.state.files == {}

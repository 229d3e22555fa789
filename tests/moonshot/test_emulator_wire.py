"""Raw HTTP checks of the emulator's wire format: SSE framing, bodies, headers, error texts."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.moonshot.emulator_support import (
    AUTH,
    chunks,
    fresh,
    http,
    running_emulator,
    sse_events,
)
from tests.samples import make_docx, make_pdf, make_png, make_pptx, make_xlsx
from tools.moonshot_emulator import EmulatorServer

DOC = "[policy.txt]\nRefunds are issued within 14 days. Shipping is free above 50 euros."
MESSAGES = [
    {"role": "system", "content": DOC},
    {"role": "user", "content": "How fast are refunds issued?"},
]


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    yield from running_emulator()


@pytest.fixture
def emu(server: EmulatorServer) -> EmulatorServer:
    return fresh(server)


@pytest.fixture
def client(emu: EmulatorServer) -> Iterator[httpx.Client]:
    with http(emu) as c:
        yield c


def upload(client: httpx.Client, name: str, data: bytes, purpose: str = "file-extract"):
    return client.post("/v1/files", files={"file": (name, data)}, data={"purpose": purpose})


def chat(client: httpx.Client, **body) -> httpx.Response:
    return client.post(
        "/v1/chat/completions", json={"model": "moonshot-v1-8k", "messages": MESSAGES, **body}
    )


def error_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.text


def body(status: int, error_type: str, message: str) -> tuple[int, str]:
    text = json.dumps({"error": {"message": message, "type": error_type}}, ensure_ascii=False)
    return status, text.replace('", "', '","').replace('": ', '":')


def test_stream_wire_format(client: httpx.Client) -> None:
    response = chat(client, stream=True)
    assert response.headers["content-type"] == "text/event-stream"
    events = chunks(response.text)
    first, *content, final = events
    assert first["choices"] == [
        {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
    ]
    assert list(first) == ["id", "object", "created", "model", "choices"]  # no usage key at all
    assert first["object"] == "chat.completion.chunk" and first["model"] == "moonshot-v1-8k"
    assert {e["id"] for e in events} == {first["id"]}
    assert all(len(c["choices"][0]["delta"]["content"]) <= 8 for c in content)
    text = "".join(c["choices"][0]["delta"]["content"] for c in content)
    assert '"Refunds are issued within 14 days."' in text and text.endswith("[policy.txt]")
    choice = final["choices"][0]
    assert choice["delta"] == {} and choice["finish_reason"] == "stop"
    assert set(choice["usage"]) == {
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "cached_tokens",
    }
    assert "usage" not in final  # usage lives inside choices[0] (reference §5.3)
    # Compact JSON on the wire.
    assert response.text.startswith('data: {"id":"cmpl-')


def test_stream_include_usage_adds_a_trailing_usage_chunk(client: httpx.Client) -> None:
    response = chat(client, stream=True, stream_options={"include_usage": True})
    events = chunks(response.text)
    *body_chunks, trailer = events
    assert trailer["choices"] == []
    assert all(e["usage"] is None for e in body_chunks)
    assert trailer["usage"] == body_chunks[-1]["choices"][0]["usage"]
    assert sse_events(response.text)[-1] == "[DONE]"


def test_non_stream_body_and_headers(client: httpx.Client) -> None:
    response = chat(client)
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    uuid.UUID(response.headers["msh-request-id"])
    assert re.fullmatch(r"inner; dur=\d+", response.headers["server-timing"])
    data = response.json()
    assert list(data) == ["id", "object", "created", "model", "choices", "usage"]
    assert data["object"] == "chat.completion"
    assert data["choices"][0]["message"]["role"] == "assistant"
    assert data["usage"]["cached_tokens"] == 0
    assert chat(client).json()["usage"]["cached_tokens"] == data["usage"]["prompt_tokens"]


def test_max_tokens_cuts_the_answer_with_finish_reason_length(
    emu: EmulatorServer, client: httpx.Client
) -> None:
    emu.faults.answer_override = "token " * 200
    data = chat(client, max_tokens=10).json()
    assert data["choices"][0]["finish_reason"] == "length"
    assert data["usage"]["completion_tokens"] <= 10
    assert data["choices"][0]["message"]["content"] != "token " * 200
    # max_completion_tokens (the newer name) wins over max_tokens.
    newer = chat(client, max_tokens=1000, max_completion_tokens=5).json()
    assert newer["choices"][0]["finish_reason"] == "length"
    assert newer["usage"]["completion_tokens"] <= 5


def test_content_json_is_compact_and_alphabetical_per_format(client: httpx.Client) -> None:
    cases = {
        "notes.txt": (b"Plain words here.", "text/plain", "Plain words here."),
        "legacy.txt": ("旧编码的中文。".encode("gb18030"), "text/plain", "旧编码的中文。"),
        "report.pdf": (make_pdf("Quarterly revenue rose."), "application/pdf", "revenue rose"),
        "memo.docx": (make_docx("Memo body text.", table=[["k", "v"]]), "application/zip", "k\tv"),
        "budget.xlsx": (make_xlsx({"Budget": [["Rent", 1200]]}), "application/zip", "Rent\t1200"),
        "deck.pptx": (make_pptx(("Roadmap", "Ship in May")), "application/zip", "Ship in May"),
    }
    for name, (data, file_type, expected) in cases.items():
        created = upload(client, name, data).json()
        assert created["status"] == "ok", (name, created)
        raw = client.get(f"/v1/files/{created['id']}/content").text
        parsed = json.loads(raw)
        assert expected in parsed["content"], name
        assert raw == json.dumps(
            {
                "content": parsed["content"],
                "file_type": file_type,
                "filename": name,
                "title": "",
                "type": "file",
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )


def test_file_objects_ids_and_listing_cursor(client: httpx.Client) -> None:
    objects = [upload(client, f"{i}.txt", b"text %d" % i).json() for i in range(4)]
    for obj in objects:
        assert re.fullmatch(r"[0-9a-v]{20}", obj["id"])
        assert list(obj) == [
            "id",
            "object",
            "bytes",
            "created_at",
            "filename",
            "purpose",
            "status",
            "status_details",
        ]
    ids = [o["id"] for o in objects]
    assert len(set(ids)) == 4
    listing = client.get("/v1/files").json()
    assert list(listing) == ["object", "data"] and listing["object"] == "list"
    assert [f["id"] for f in listing["data"]] == ids
    page = client.get("/v1/files", params={"after": ids[1], "limit": 1}).json()["data"]
    assert [f["id"] for f in page] == [ids[2]]
    assert client.get("/v1/files", params={"after": ids[3]}).json()["data"] == []
    desc = client.get("/v1/files", params={"order": "desc"}).json()["data"]
    assert [f["id"] for f in desc] == ids[::-1]
    assert client.delete(f"/v1/files/{ids[0]}").text == (
        f'{{"deleted":true,"id":"{ids[0]}","object":"file"}}'
    )


def test_every_error_body(emu: EmulatorServer, client: httpx.Client) -> None:
    no_key = httpx.get(f"{emu.base_url}/models")
    wrong_key = httpx.get(f"{emu.base_url}/models", headers={"Authorization": "Bearer nope"})
    expected = body(401, "invalid_authentication_error", "Invalid Authentication")
    assert error_of(no_key) == error_of(wrong_key) == expected

    assert error_of(chat(client, model="moonshot-v1-1k")) == body(
        404, "resource_not_found_error", "Not found the model moonshot-v1-1k or Permission denied"
    )
    assert error_of(upload(client, "a.txt", b"x", purpose="batch")) == body(
        400, "invalid_request_error", "Invalid purpose: only 'file-extract' accepted"
    )
    assert error_of(upload(client, "a.txt", b"")) == body(
        400, "invalid_request_error", "File size is zero, please confirm and re-upload the file"
    )
    emu.config.max_file_bytes = 1024 * 1024
    assert error_of(upload(client, "big.txt", b"x" * (1024 * 1024 + 1))) == body(
        400,
        "invalid_request_error",
        "File size is too large, max file size is 1MB, please confirm and re-upload the file",
    )
    emu.config.max_files = 1
    assert upload(client, "one.txt", b"one").status_code == 200
    assert error_of(upload(client, "two.txt", b"two")) == body(
        400,
        "invalid_request_error",
        "The number of files you have uploaded exceeded the max file count 1, "
        "please delete previous uploaded files",
    )
    emu.config.max_files = 10
    emu.config.max_total_bytes = 5
    status, text = error_of(upload(client, "three.txt", b"three"))
    assert status == 400 and "exceeded the max total size 5B" in text

    assert error_of(chat(client, temperature=1.5)) == body(
        400,
        "invalid_request_error",
        "invalid temperature: only values in [0, 1] are allowed for this model",
    )
    assert chat(client, temperature=1.5, model="kimi-k2-0905-preview").status_code == 200
    assert chat(client, n=6).status_code == 400
    assert error_of(chat(client, messages=[])) == body(
        400, "invalid_request_error", "Invalid request: messages must not be empty"
    )
    empty_message = [{"role": "system", "content": "x"}, {"role": "user", "content": ""}]
    assert error_of(chat(client, messages=empty_message)) == body(
        400,
        "invalid_request_error",
        "Invalid request: the message at position 1 with role 'user' must not be empty",
    )
    missing = client.get("/v1/files/cnhgqnucp7f5h7jfb3s0")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "resource_not_found_error"


def test_failed_extraction_content_is_a_500(client: httpx.Client) -> None:
    for name, data, reason in [
        ("scan.png", make_png(), "no text found in the image"),
        ("broken.pdf", b"%PDF-1.4\nnot really", None),
        ("blob.bin", b"\x00\x01\x02binary", "unsupported binary file"),
    ]:
        created = upload(client, name, data).json()
        assert (created["status"], created["status_details"]) == ("error", ""), name
        status, text = error_of(client.get(f"/v1/files/{created['id']}/content"))
        assert status == 500
        error = json.loads(text)["error"]
        assert error["type"] == "server_error"
        assert error["message"].startswith("Failed to extract file: ")
        if reason:
            assert error["message"] == f"Failed to extract file: {reason}"


def test_unknown_route_gets_the_gateway_body(emu: EmulatorServer, client: httpx.Client) -> None:
    response = client.get("/v1/embeddings", headers={"User-Agent": "probe/1"})
    assert response.status_code == 404
    assert response.text == (
        '{"code":5,"error":"url.not_found","message":"没找到对象","method":"GET",'
        '"scode":"0x5","status":false,"ua":"probe/1","url":"/v1/embeddings"}'
    )
    assert client.put("/v1/files").status_code == 404  # a known path with a wrong method
    assert httpx.get(f"{emu.url}/v2/anything").json()["error"] == "url.not_found"


def test_models_estimate_and_balance(client: httpx.Client) -> None:
    models = client.get("/v1/models").json()
    assert models["object"] == "list"
    by_id = {m["id"]: m for m in models["data"]}
    assert set(by_id["moonshot-v1-8k"]) == {"id", "object", "created", "owned_by", "context_length"}
    assert by_id["moonshot-v1-8k"]["context_length"] == 8192
    assert by_id["moonshot-v1-128k"]["owned_by"] == "moonshot"

    from apps.moonshot.tokens import estimate_messages_tokens

    estimate = client.post(
        "/v1/tokenizers/estimate-token-count",
        json={"model": "moonshot-v1-8k", "messages": MESSAGES},
    )
    assert estimate.json() == {"data": {"total_tokens": estimate_messages_tokens(MESSAGES)}}
    assert chat(client).json()["usage"]["prompt_tokens"] == estimate_messages_tokens(MESSAGES)

    balance = client.get("/v1/users/me/balance").json()
    assert balance["status"] is True and balance["data"]["available_balance"] > 0


def test_authorization_is_checked_before_anything_else(emu: EmulatorServer) -> None:
    emu.faults.fail_next(1, status=500, error_type="server_error")
    response = httpx.post(f"{emu.base_url}/chat/completions", json={})
    assert response.status_code == 401
    assert emu.state.count(method="POST", path="/v1/chat/completions", status=401) == 1
    # The fault is still armed for the next authorised call.
    assert httpx.get(f"{emu.base_url}/models", headers=AUTH).status_code == 500

"""Rate limits (exact sliding windows, the reference's 429 texts) and fault injection."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from apps.moonshot.tokens import estimate_messages_tokens
from tests.moonshot.emulator_support import (
    chunks,
    fresh,
    http,
    running_emulator,
    sdk,
    wait_until,
)
from tools.moonshot_emulator import EmulatorServer

MESSAGES = [
    {"role": "system", "content": "Document: faq.txt\nThe library closes at 9 pm on weekdays."},
    {"role": "user", "content": "When does the library close?"},
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


def chat(client: httpx.Client, **body) -> httpx.Response:
    return client.post(
        "/v1/chat/completions", json={"model": "moonshot-v1-8k", "messages": MESSAGES, **body}
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rpm_is_an_exact_sliding_window(emu: EmulatorServer, client: httpx.Client) -> None:
    clock = FakeClock()
    emu.state.clock = clock
    emu.config.rpm = 3
    try:
        for _ in range(3):
            assert chat(client).status_code == 200
            clock.now += 10
        refused = chat(client)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        assert refused.json() == {
            "error": {
                "message": "Your account org-emulator<ak-emulator> request reached organization "
                "max RPM: 3, please try again after 1 seconds",
                "type": "rate_limit_reached_error",
            }
        }
        clock.now = 1000.0 + 59.9  # the first request is still inside the window
        assert chat(client).status_code == 429
        clock.now = 1000.0 + 60.0  # now it has left: exactly one slot frees
        assert chat(client).status_code == 200
        assert chat(client).status_code == 429
        assert emu.state.rate_limited_count == 3
        assert emu.state.count(method="POST", path="/v1/chat/completions", status=429) == 3
    finally:
        emu.state.clock = time.monotonic


def test_concurrency_refuses_an_overlapping_stream(
    emu: EmulatorServer, client: httpx.Client
) -> None:
    emu.config.concurrency = 1
    emu.config.chunk_delay = 0.02
    emu.faults.answer_override = "slow answer " * 10  # 15 chunks, about 0.3 s
    body = {"model": "moonshot-v1-8k", "messages": MESSAGES, "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=body) as first:
        assert first.status_code == 200
        overlapping = chat(client, stream=True)
        assert overlapping.status_code == 429
        assert overlapping.json()["error"]["message"] == (
            "Your account org-emulator<ak-emulator> request reached organization max "
            "concurrency: 1, please try again after 1 seconds"
        )
        first.read()
    assert wait_until(lambda: emu.state.in_flight == 0)
    assert chat(client).status_code == 200  # the slot is free again
    assert emu.state.max_concurrent_seen == 1


def test_max_concurrent_seen_counts_overlapping_requests(
    emu: EmulatorServer, client: httpx.Client
) -> None:
    emu.config.first_token_delay = 0.5
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(chat(client).status_code)) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200, 200, 200]
    assert emu.state.max_concurrent_seen == 3


def test_tpm_and_tpd_charge_prompt_plus_max_tokens(
    emu: EmulatorServer, client: httpx.Client
) -> None:
    prompt = estimate_messages_tokens(MESSAGES)
    emu.config.tpm = 2 * (prompt + 500)
    assert chat(client, max_tokens=500).status_code == 200
    assert chat(client, max_tokens=500).status_code == 200
    refused = chat(client, max_tokens=1)
    assert refused.status_code == 429
    assert refused.json()["error"]["message"] == (
        "Your account org-emulator<ak-emulator> request reached organization TPM rate limit, "
        f"current:{2 * (prompt + 500) + prompt + 1}, limit:{emu.config.tpm}"
    )
    emu.reset()
    emu.config.tpm = None
    emu.config.tpd = prompt + 1024  # the default max_tokens is 1024
    assert chat(client).status_code == 200
    refused = chat(client)
    assert refused.status_code == 429
    assert "request reached organization TPD rate limit, current:" in refused.text
    assert emu.state.rate_limited_count == 1


def test_fail_next_with_path_prefix(emu: EmulatorServer, client: httpx.Client) -> None:
    emu.faults.fail_next(2, status=500, error_type="server_error", path_prefix="/v1/files")
    assert chat(client).status_code == 200  # other paths are untouched
    for _ in range(2):
        failed = client.get("/v1/files")
        assert failed.status_code == 500
        assert failed.json() == {
            "error": {"message": "Internal server error", "type": "server_error"}
        }
    assert client.get("/v1/files").status_code == 200


def test_injected_overload_reaches_the_sdk_as_rate_limit(emu: EmulatorServer) -> None:
    emu.faults.fail_next(1, status=429, error_type="engine_overloaded_error")
    with pytest.raises(openai.RateLimitError) as raised:
        sdk(emu).chat.completions.create(model="moonshot-v1-8k", messages=MESSAGES)
    assert raised.value.type == "engine_overloaded_error"
    assert raised.value.body["message"] == (
        "The engine is currently overloaded, please try again later"
    )
    assert raised.value.response.headers["retry-after"] == "1"
    assert emu.state.rate_limited_count == 1


def test_fail_extraction_for_a_filename(emu: EmulatorServer, client: httpx.Client) -> None:
    emu.faults.fail_extraction_for("scan", reason="bad scan")
    bad = client.post(
        "/v1/files", files={"file": ("old-scan.txt", b"text")}, data={"purpose": "file-extract"}
    ).json()
    good = client.post(
        "/v1/files", files={"file": ("notes.txt", b"text")}, data={"purpose": "file-extract"}
    ).json()
    assert (bad["status"], good["status"]) == ("error", "ok")
    content = client.get(f"/v1/files/{bad['id']}/content")
    assert content.status_code == 500
    assert content.text == (
        '{"error":{"message":"Failed to extract file: bad scan","type":"server_error"}}'
    )
    assert emu.state.files[bad["id"]].status == "error"


def test_extract_text_for_forces_odd_text_onto_the_wire_as_valid_json(
    emu: EmulatorServer, client: httpx.Client
) -> None:
    """A provider's text can hold NUL, controls and lone surrogates; the wire stays valid
    UTF-8 JSON (a surrogate travels as an escape) and decodes back to the same characters."""
    odd = "a\x00b\x07c \ud800 d \ud83d\ude00"
    emu.faults.extract_text_for(".txt", odd)
    uploaded = client.post(
        "/v1/files", files={"file": ("docqa-x.txt", b"text")}, data={"purpose": "file-extract"}
    ).json()
    response = client.get(f"/v1/files/{uploaded['id']}/content")
    assert response.status_code == 200
    raw = response.content.decode("utf-8")  # strict: the body is valid UTF-8
    assert "\\ud800" in raw and "\\u0000" in raw
    assert json.loads(raw)["content"] == "a\x00b\x07c \ud800 d \U0001f600"
    assert emu.faults.snapshot()["extract_text_for"] == {".txt": odd}


def read_data_lines(client: httpx.Client, body: dict, into: list[str]) -> None:
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                into.append(line[6:])


def test_dropped_stream_ends_without_done(emu: EmulatorServer, client: httpx.Client) -> None:
    emu.faults.answer_override = "abcdefgh" * 10
    emu.faults.drop_stream_after(3)
    body = {"model": "moonshot-v1-8k", "messages": MESSAGES, "stream": True}
    received: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):  # the cut comes in the middle of the body
        read_data_lines(client, body, received)
    assert "[DONE]" not in received
    contents = [json.loads(r)["choices"][0]["delta"].get("content") for r in received]
    assert contents == ["", "abcdefgh", "abcdefgh", "abcdefgh"]  # role chunk, then 3 chunks
    assert emu.state.streams_dropped == 1
    assert emu.state.stream_disconnects == 0
    # The drop is one-shot: the next stream is whole.
    assert chat(client, stream=True).text.endswith("data: [DONE]\n\n")


def test_client_disconnect_mid_stream_is_recorded(
    emu: EmulatorServer, client: httpx.Client
) -> None:
    emu.config.chunk_delay = 0.05
    emu.faults.answer_override = "x" * 800  # 100 chunks: five seconds if read to the end
    body = {"model": "moonshot-v1-8k", "messages": MESSAGES, "stream": True}
    started = time.monotonic()
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
    assert wait_until(lambda: emu.state.stream_disconnects == 1)
    assert wait_until(lambda: emu.state.in_flight == 0)
    assert time.monotonic() - started < 3  # generation stopped, the slot was freed early
    assert emu.state.count(method="POST", path="/v1/chat/completions", status=200) == 1


def test_first_token_and_chunk_delays(emu: EmulatorServer, client: httpx.Client) -> None:
    emu.config.first_token_delay = 0.5
    emu.config.chunk_delay = 0.05
    emu.config.chunk_chars = 4
    emu.faults.answer_override = "abcdefghijkl"  # three chunks
    body = {"model": "moonshot-v1-8k", "messages": MESSAGES, "stream": True}
    started = time.monotonic()
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        headers_at = time.monotonic() - started
        text = response.read().decode()
    total = time.monotonic() - started
    assert headers_at < 0.45  # headers go out at once, tokens come later
    assert total >= 0.5 + 2 * 0.05
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks(text)[1:-1]]
    assert pieces == ["abcd", "efgh", "ijkl"]

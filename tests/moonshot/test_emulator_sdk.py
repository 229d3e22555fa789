"""The official openai SDK against the emulator: proof that it speaks the provider's protocol."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import openai
import pytest

from apps.moonshot.tokens import estimate_messages_tokens
from tests.moonshot.emulator_support import fresh, running_emulator, sdk
from tools.moonshot_emulator import EmulatorServer

ID = re.compile(r"^[0-9a-v]{20}$")
DOC = (
    "Document: handbook.md\n"
    "Employees get 25 days of paid leave per year. The office opens at 8 am. "
    "Expense reports are due on the fifth working day of each month."
)


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    yield from running_emulator()


@pytest.fixture
def emu(server: EmulatorServer) -> EmulatorServer:
    return fresh(server)


def question(text: str) -> list[dict]:
    return [{"role": "system", "content": DOC}, {"role": "user", "content": text}]


def test_files_lifecycle_with_the_sdk(emu: EmulatorServer) -> None:
    client = sdk(emu)
    created = client.files.create(
        file=("notes.txt", "First line.\n\n第二行。".encode()), purpose="file-extract"
    )
    assert ID.match(created.id)
    assert (created.object, created.status, created.status_details) == ("file", "ok", "")
    assert created.bytes == len("First line.\n\n第二行。".encode())
    assert created.filename == "notes.txt"

    assert client.files.retrieve(created.id).model_dump() == created.model_dump()
    text = client.files.content(created.id).text
    assert text == (
        '{"content":"First line.\\n\\n第二行。","file_type":"text/plain",'
        '"filename":"notes.txt","title":"","type":"file"}'
    )
    assert json.loads(text)["content"] == "First line.\n\n第二行。"

    deleted = client.files.delete(created.id)
    assert (deleted.id, deleted.deleted) == (created.id, True)
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created.id)
    assert emu.state.files == {}


def test_auto_pagination_terminates_and_honours_limit(emu: EmulatorServer) -> None:
    client = sdk(emu)
    ids = [
        client.files.create(file=(f"f{i}.txt", b"x%d" % i), purpose="file-extract").id
        for i in range(3)
    ]
    assert len(set(ids)) == 3
    assert [f.id for f in client.files.list(limit=2)] == ids
    # Two full pages of 2 and 1, then the empty page that stops the SDK.
    assert emu.state.count(method="GET", path="/v1/files") == 3
    assert [f.id for f in client.files.list().data] == ids


def test_chat_answer_and_usage_with_the_sdk(emu: EmulatorServer) -> None:
    client = sdk(emu)
    messages = question("How many days of paid leave do employees get?")
    reply = client.chat.completions.create(model="moonshot-v1-8k", messages=messages)
    answer = reply.choices[0].message.content
    assert "Employees get 25 days of paid leave per year." in answer
    assert answer.endswith("[handbook.md]")
    assert reply.choices[0].finish_reason == "stop"
    assert reply.id.startswith("cmpl-")
    assert reply.usage.prompt_tokens == estimate_messages_tokens(messages)
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert reply.usage.model_extra["cached_tokens"] == 0

    follow_up = [*messages[:1], {"role": "user", "content": "When does the office open?"}]
    again = client.chat.completions.create(model="moonshot-v1-8k", messages=follow_up)
    assert "The office opens at 8 am." in again.choices[0].message.content
    # The document message is a prefix seen before: its tokens are cached, the question is not.
    cached = again.usage.model_extra["cached_tokens"]
    assert 0 < cached < again.usage.prompt_tokens


def test_chat_stream_with_the_sdk(emu: EmulatorServer) -> None:
    client = sdk(emu)
    messages = question("When are expense reports due?")
    expected = client.chat.completions.create(model="moonshot-v1-8k", messages=messages)
    stream = client.chat.completions.create(
        model="moonshot-v1-8k",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
    )
    received = list(stream)
    assert received[0].choices[0].delta.role == "assistant"
    content = "".join(c.choices[0].delta.content or "" for c in received if c.choices)
    assert content == expected.choices[0].message.content
    final = next(c for c in received if c.choices and c.choices[0].finish_reason)
    usage = final.choices[0].usage  # an extra field: a plain dict, as with the real provider
    assert usage["prompt_tokens"] == expected.usage.prompt_tokens
    assert usage["completion_tokens"] == expected.usage.completion_tokens
    assert usage["cached_tokens"] == expected.usage.prompt_tokens  # the same prompt again
    assert received[-1].choices == []
    assert received[-1].usage.total_tokens == usage["total_tokens"]


def test_sdk_error_classes_carry_the_provider_messages(emu: EmulatorServer) -> None:
    client = sdk(emu)
    with pytest.raises(openai.AuthenticationError) as auth:
        sdk(emu, key="sk-wrong").models.list()
    assert auth.value.body == {
        "message": "Invalid Authentication",
        "type": "invalid_authentication_error",
    }

    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="kimi-nope", messages=question("hi"))
    assert missing.value.body["message"] == "Not found the model kimi-nope or Permission denied"
    assert missing.value.type == "resource_not_found_error"

    huge = [{"role": "user", "content": "word " * 9000}]
    with pytest.raises(openai.BadRequestError) as too_long:
        client.chat.completions.create(model="moonshot-v1-8k", messages=huge)
    assert too_long.value.body["message"] == "Input token length too long"

    near = [{"role": "user", "content": "word " * 7000}]
    prompt = estimate_messages_tokens(near)
    with pytest.raises(openai.BadRequestError) as over:
        client.chat.completions.create(model="moonshot-v1-8k", messages=near, max_tokens=2000)
    assert over.value.body["message"] == (
        "Invalid request: Your request exceeded model token limit: 8192 "
        f"(requested: {prompt + 2000})"
    )

    with pytest.raises(openai.BadRequestError) as purpose:
        client.files.create(file=("a.txt", b"abc"), purpose="assistants")
    assert purpose.value.body["message"] == "Invalid purpose: only 'file-extract' accepted"

    with pytest.raises(openai.BadRequestError) as empty:
        client.files.create(file=("a.txt", b""), purpose="file-extract")
    assert empty.value.body["message"] == (
        "File size is zero, please confirm and re-upload the file"
    )

    emu.config.rpm = 1  # the six requests above are in the window: already over
    with pytest.raises(openai.RateLimitError):
        client.models.list()
    emu.reset()  # empties the window
    client.models.list()
    with pytest.raises(openai.RateLimitError) as limited:
        client.models.list()
    assert limited.value.type == "rate_limit_reached_error"
    assert limited.value.response.headers["retry-after"] == "1"


def test_a_provider_tokenizer_that_counts_more_refuses_what_the_estimate_thought_fits(
    emu: EmulatorServer,
) -> None:
    """`token_scale` plays a provider whose tokenizer disagrees with DocQA's estimate: its
    count and its window check (reference §4.2, §8) both use its own, higher count."""
    client = sdk(emu)
    near = [{"role": "user", "content": "word " * 5000}]
    estimate = estimate_messages_tokens(near)
    assert estimate + 1024 <= 8192  # fits by DocQA's estimate, with the default max_tokens
    emu.config.token_scale = 1.5
    counted = client.post(
        "/tokenizers/estimate-token-count",
        body={"model": "moonshot-v1-8k", "messages": near},
        cast_to=object,
    )
    assert counted == {"data": {"total_tokens": -(-estimate * 3 // 2)}}
    with pytest.raises(openai.BadRequestError) as over:
        client.chat.completions.create(model="moonshot-v1-8k", messages=near, max_tokens=1024)
    assert over.value.body["type"] == "invalid_request_error"
    assert over.value.body["message"].startswith(
        "Invalid request: Your request exceeded model token limit: 8192 (requested: "
    )

"""The client against the emulator over loopback HTTP: every endpoint and every error type."""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import pytest

from apps.moonshot import errors
from apps.moonshot.admission import get_controller
from apps.moonshot.client import MoonshotClient
from apps.moonshot.streaming import StreamInterrupted
from tests.moonshot.conftest import API_KEY, FAST_RETRY

DOC = "Launch plan.\nThe launch date of Project Aurora is 14 March 2027. Budget is tight.\n"
QUESTION = [
    {"role": "system", "content": "Document: plan.txt\n" + DOC},
    {"role": "user", "content": "When is the launch date of Project Aurora?"},
]


def test_file_round_trip(provider, emulator):
    uploaded = provider.upload_file("plan.txt", DOC.encode())
    assert len(uploaded.id) == 20 and uploaded.status == "ok" and uploaded.bytes == len(DOC)
    assert [f.id for f in provider.list_files()] == [uploaded.id]
    assert provider.retrieve_file(uploaded.id).filename == "plan.txt"
    content = provider.file_content(uploaded.id)
    assert "14 March 2027" in content.content
    assert json.loads(content.raw)["content"] == content.content  # raw kept verbatim
    assert content.filename == "plan.txt"
    assert provider.delete_file(uploaded.id) is True
    assert provider.list_files() == []
    assert provider.delete_file(uploaded.id) is False  # already gone: not an error


def test_failed_extraction_is_its_own_error(provider, emulator):
    emulator.faults.fail_extraction_for("scan", reason="no text layer")
    remote = provider.upload_file("scan.txt", b"some bytes")
    assert remote.failed
    with pytest.raises(errors.ExtractionFailedError) as caught:
        provider.file_content(remote.id)
    assert "no text layer" in caught.value.admin_message
    assert "could not read text" in caught.value.user_message


def test_chat_answers_from_the_system_messages_with_usage(provider):
    result = provider.chat(QUESTION, model="moonshot-v1-8k", max_tokens=200)
    assert "14 March 2027" in result.content
    assert result.finish_reason == "stop"
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0


def test_estimate_tokens_and_models(provider):
    assert provider.estimate_tokens(QUESTION, model="moonshot-v1-8k") > 10
    ids = {m.id for m in provider.list_models()}
    assert {"moonshot-v1-8k", "moonshot-v1-32k", "moonshot-v1-128k"} <= ids


async def _collect(async_provider, messages=QUESTION, **kwargs):
    chunks = []
    async for chunk in async_provider.stream_chat(messages, model="moonshot-v1-8k", **kwargs):
        chunks.append(chunk)
    return chunks


def test_stream_yields_text_progressively_and_usage_at_the_end(async_provider, emulator):
    emulator.config.chunk_chars = 4
    chunks = asyncio.run(_collect(async_provider))
    text = "".join(c.text for c in chunks)
    assert "14 March 2027" in text
    assert len([c for c in chunks if c.text]) > 5
    final = chunks[-1]
    assert final.finish_reason == "stop" and final.usage and final.usage.completion_tokens > 0


def test_closing_the_stream_closes_upstream_and_frees_the_slot(async_provider, emulator):
    emulator.faults.answer_override = "word " * 400
    emulator.config.chunk_delay = 0.01

    async def read_three_then_stop():
        stream = async_provider.stream_chat(QUESTION, model="moonshot-v1-8k")
        got = [await anext(stream) for _ in range(3)]
        await stream.aclose()
        return got

    assert len(asyncio.run(read_three_then_stop())) == 3
    deadline = 0
    while emulator.state.stream_disconnects < 1 and deadline < 50:
        asyncio.run(asyncio.sleep(0.05))
        deadline += 1
    assert emulator.state.stream_disconnects == 1
    assert async_provider.admission.stats()["holders"] == 0


def test_dropped_stream_raises_stream_interrupted(async_provider, emulator):
    emulator.faults.answer_override = "word " * 100
    emulator.faults.drop_stream_after(3)
    with pytest.raises(StreamInterrupted):
        asyncio.run(_collect(async_provider))


@pytest.mark.parametrize(
    ("status", "error_type", "message", "expected"),
    [
        (
            400,
            "invalid_request_error",
            "Invalid request: bad parameter",
            errors.InvalidRequestError,
        ),
        (401, "invalid_authentication_error", "Invalid Authentication", errors.AuthenticationError),
        (
            403,
            "permission_denied_error",
            "The API you are accessing is not open",
            errors.AuthenticationError,
        ),
        (
            429,
            "exceeded_current_quota_error",
            "Your account org-abc123<ak-xyz789> is suspended, "
            "please check your plan and billing details",
            errors.QuotaExceededError,
        ),
        (
            400,
            "content_filter",
            "The request was rejected because it was considered high risk",
            errors.ContentFilterError,
        ),
    ],
)
def test_permanent_errors_fail_at_once(provider, emulator, status, error_type, message, expected):
    emulator.faults.fail_next(5, status=status, error_type=error_type, message=message)
    with pytest.raises(expected) as caught:
        provider.chat(QUESTION, model="moonshot-v1-8k")
    assert emulator.state.count(method="POST", path="/v1/chat/completions") == 1  # no retry
    assert "org-abc123" not in caught.value.admin_message + caught.value.user_message
    assert "ak-xyz789" not in caught.value.admin_message


@pytest.mark.parametrize(
    ("status", "error_type", "message"),
    [
        (
            429,
            "engine_overloaded_error",
            "The engine is currently overloaded, please try again later",
        ),
        (500, "server_error", "internal"),
        (503, "server_unavailable", ""),
    ],
)
def test_transient_errors_are_retried_with_backoff(provider, emulator, status, error_type, message):
    emulator.faults.fail_next(2, status=status, error_type=error_type, message=message)
    result = provider.chat(QUESTION, model="moonshot-v1-8k")
    assert "14 March 2027" in result.content
    assert emulator.state.count(method="POST", path="/v1/chat/completions") == 3


RPM_429 = (
    "Your account org-e<ak-e> request reached organization max RPM: 3, "
    "please try again after {n} seconds"
)


def test_rate_limit_sets_shared_cooldown_and_goes_back_through_admission(provider, emulator):
    provider.admission = get_controller()  # the real 61 s window of the settings
    provider.chat(QUESTION, model="moonshot-v1-8k")  # an admission in the window
    emulator.faults.fail_next(
        1, status=429, error_type="rate_limit_reached_error", message=RPM_429.format(n=1)
    )
    started = time.monotonic()
    result = provider.chat(QUESTION, model="moonshot-v1-8k")
    elapsed = time.monotonic() - started
    assert "14 March 2027" in result.content
    # What the provider said (1 s), not until the window drains (it used to be ~61 s here).
    assert elapsed < 10, elapsed
    assert provider.admission.stats()["rate_limited_today"] >= 1
    calls = [c for c in emulator.state.calls if c.path == "/v1/chat/completions"]
    assert [c.status for c in calls[-2:]] == [429, 200]
    assert calls[-1].at - calls[-2].at == pytest.approx(1.0, abs=0.5)


def test_repeated_429s_back_off_longer_each_time(provider, emulator):
    provider.admission = get_controller()
    emulator.faults.fail_next(
        3, status=429, error_type="rate_limit_reached_error", message=RPM_429.format(n=1)
    )
    result = provider.chat(QUESTION, model="moonshot-v1-8k")
    assert "14 March 2027" in result.content
    at = [c.at for c in emulator.state.calls if c.path == "/v1/chat/completions"]
    gaps = [b - a for a, b in itertools.pairwise(at)]
    assert gaps == pytest.approx([1.0, 2.0, 4.0], abs=0.5)  # 1 s as asked, then doubled
    # The success ended the run: the next single 429 waits 1 s again.
    emulator.faults.fail_next(
        1, status=429, error_type="rate_limit_reached_error", message=RPM_429.format(n=1)
    )
    provider.chat(QUESTION, model="moonshot-v1-8k")
    at = [c.at for c in emulator.state.calls if c.path == "/v1/chat/completions"]
    assert at[-1] - at[-2] == pytest.approx(1.0, abs=0.5)


def test_a_stream_after_one_429_starts_as_soon_as_the_provider_said(async_provider, emulator):
    async_provider.admission = get_controller()

    async def run() -> float:
        await _collect(async_provider)  # an admission in the 61 s window
        emulator.faults.fail_next(
            1, status=429, error_type="rate_limit_reached_error", message=RPM_429.format(n=2)
        )
        started = time.monotonic()
        async for _chunk in async_provider.stream_chat(QUESTION, model="moonshot-v1-8k"):
            return time.monotonic() - started
        raise AssertionError("no chunk")

    assert 1.5 <= asyncio.run(run()) < 6


@pytest.mark.parametrize(
    ("message", "headers", "expected"),
    [
        (RPM_429.format(n=1), {}, 1.0),
        (RPM_429.format(n=7), {}, 7.0),
        ("... max concurrency: 1, please try again after 3 seconds", {}, 3.0),
        (RPM_429.format(n=7), {"retry-after": "2"}, 7.0),  # the longer of text and header
        (RPM_429.format(n=1), {"retry-after-ms": "2500"}, 2.5),
        ("request reached organization TPM rate limit, current:9, limit:5", {}, None),
    ],
)
def test_the_wait_a_429_asks_for(message, headers, expected):
    body = {"error": {"type": "rate_limit_reached_error", "message": message}}
    assert errors.from_response(429, body, headers).retry_after == expected


def test_transient_errors_give_up_after_the_attempt_cap(provider, emulator):
    emulator.faults.fail_next(50, status=500, error_type="server_error", message="boom")
    with pytest.raises(errors.ServerError):
        provider.chat(QUESTION, model="moonshot-v1-8k")
    assert (
        emulator.state.count(method="POST", path="/v1/chat/completions") == FAST_RETRY.max_attempts
    )


def test_context_too_long_and_unknown_model(provider):
    long_question = [{"role": "user", "content": "word " * 40_000}]
    with pytest.raises(errors.ContextTooLongError) as caught:
        provider.chat(long_question, model="moonshot-v1-8k")
    assert "too long for the model" in caught.value.user_message
    with pytest.raises(errors.NotFoundError):
        provider.chat(QUESTION, model="no-such-model")


def test_bad_key_is_reported_without_the_key(emulator):
    bad = MoonshotClient(
        api_key="sk-wrong-secret-value", base_url=emulator.base_url, retry=FAST_RETRY
    )
    with pytest.raises(errors.AuthenticationError) as caught:
        bad.list_files()
    text = caught.value.admin_message + caught.value.user_message + repr(caught.value)
    assert "sk-wrong-secret-value" not in text
    assert API_KEY not in text


def test_file_limits_map_to_specific_errors(provider, emulator):
    with pytest.raises(errors.FileEmptyError):
        provider.upload_file("empty.txt", b"")
    emulator.config.max_file_bytes = 10
    with pytest.raises(errors.FileTooLargeError):
        provider.upload_file("big.txt", b"x" * 11)
    emulator.config.max_file_bytes = 1000
    emulator.config.max_files = 1
    provider.upload_file("one.txt", b"one")
    with pytest.raises(errors.FileCountExceededError):
        provider.upload_file("two.txt", b"two")
    assert emulator.state.count(method="POST", path="/v1/files") == 4  # never retried blindly


def test_network_errors_are_network_errors():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = MoonshotClient(api_key=API_KEY, base_url=f"http://127.0.0.1:{port}/v1", retry=FAST_RETRY)
    with pytest.raises(errors.NetworkError) as caught:
        dead.list_files()
    assert "reach the AI provider" in caught.value.user_message


class _CostsSeen:
    """The real admission controller, noting what each slot was charged."""

    def __init__(self, inner):
        self.inner, self.costs = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def aslot(self, *, cost_tokens, **kwargs):
        self.costs.append(cost_tokens)
        return self.inner.aslot(cost_tokens=cost_tokens, **kwargs)


def test_stream_charges_the_callers_prompt_estimate_when_given(async_provider, emulator):
    from apps.moonshot.tokens import estimate_messages_tokens

    async_provider.admission = seen = _CostsSeen(get_controller())
    asyncio.run(_collect(async_provider, max_tokens=50))
    asyncio.run(_collect(async_provider, max_tokens=50, prompt_tokens=777))
    assert seen.costs == [estimate_messages_tokens(QUESTION) + 50, 777 + 50]

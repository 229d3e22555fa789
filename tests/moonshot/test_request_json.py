"""Chat bodies encoded with reused document messages are the very bytes httpx would send."""

from __future__ import annotations

import json

import httpx
import pytest

from apps.moonshot import request_json


@pytest.fixture(autouse=True)
def _empty_cache():
    request_json.clear_cache()
    yield
    request_json.clear_cache()


def document(n: int, chars: int = 5000) -> dict[str, str]:
    text = f'文档{n}：阀门每月检查一次。"quoted" \\ back\tslash\n' * (chars // 30)
    return {"role": "system", "content": text}


def body(*messages: dict) -> dict:
    return {"model": "moonshot-v1-128k", "messages": list(messages), "max_tokens": 1024}


def httpx_bytes(value: dict) -> bytes:
    return httpx.Request("POST", "http://127.0.0.1/", json=value).read()


def test_bytes_match_what_httpx_sends_for_json():
    parts = [{"type": "text", "text": "x" * 3000}]
    value = {
        **body(
            document(1), {"role": "system", "content": "short"}, {"role": "user", "content": "问?"}
        ),
        "stream": True,
        "temperature": 0.3,
        "extra": [{"content": parts}],
    }
    assert request_json.encode_chat_body(value) == httpx_bytes(value)
    # Again from the cache: still the same bytes.
    assert request_json.encode_chat_body(value) == httpx_bytes(value)
    assert json.loads(request_json.encode_chat_body(value)) == value
    for edge in ({}, {"messages": []}, {"messages": [document(2)]}, {"model": "m"}):
        assert request_json.encode_chat_body(edge) == httpx_bytes(edge)


def test_long_messages_are_encoded_once_and_changed_documents_are_new_entries():
    first = request_json.encode_chat_body(
        body(document(1), document(2), {"role": "user", "content": "a"})
    )
    assert request_json.cache_info()[0] == 2  # the two documents; the question is short
    # The same documents as new string objects (as a new database read gives them): reused.
    again = body(
        {"role": "system", "content": "".join(document(1)["content"])},
        document(2),
        {"role": "user", "content": "b"},
    )
    assert request_json.encode_chat_body(again) != first
    assert request_json.cache_info()[0] == 2
    changed = dict(document(2), content=document(2)["content"] + "新的一行")
    assert request_json.encode_chat_body(body(document(1), changed)) == httpx_bytes(
        body(document(1), changed)
    )
    assert request_json.cache_info()[0] == 3


def test_non_text_content_is_encoded_but_not_kept():
    parts = {"role": "user", "content": [{"type": "text", "text": "y" * 5000}]}
    value = body(parts)
    assert request_json.encode_chat_body(value) == httpx_bytes(value)
    assert request_json.cache_info() == (0, 0)


def test_least_recently_used_messages_leave_first(monkeypatch):
    size = 2 * len(request_json.dumps(document(1)))
    monkeypatch.setattr(request_json, "CACHE_MAX_BYTES", 2 * size)
    request_json.encode_chat_body(body(document(1), document(2)))
    request_json.encode_chat_body(body(document(1)))  # 1 is now the most recently used
    request_json.encode_chat_body(body(document(3)))  # evicts 2
    assert request_json.cache_info() == (2, 2 * size)
    assert request_json._key(document(2)) not in request_json._cache
    assert request_json._key(document(1)) in request_json._cache


def test_nan_is_refused_like_httpx():
    with pytest.raises(ValueError, match="JSON compliant"):
        request_json.encode_chat_body({"temperature": float("nan"), "messages": []})

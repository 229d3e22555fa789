"""The process's cache of document texts: loaded once, reloaded when the text changes."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.chat import selectors, services
from apps.documents.models import ExtractedText
from apps.documents.text_cache import TextCache

from .conftest import ready_document


def _text_queries(queries: CaptureQueriesContext) -> int:
    return sum('"text"' in q["sql"] and "documents_extractedtext" in q["sql"] for q in queries)


def test_texts_are_read_once_then_served_from_the_cache(team, owner):
    ready_document(team, "valves.txt", "Valves are inspected monthly.")
    ready_document(team, "pumps.txt", "泵每季度保养一次。")
    conversation = services.create_conversation(workspace=team, user=owner)
    with CaptureQueriesContext(connection) as first:
        texts = [d.text for d in selectors.scope_documents(conversation)]
    with CaptureQueriesContext(connection) as second:
        again = [d.text for d in selectors.scope_documents(conversation)]
    assert texts == again == ["Valves are inspected monthly.", "泵每季度保养一次。"]
    assert _text_queries(first) == 1 and _text_queries(second) == 0


def test_a_re_extracted_text_is_read_again(team, owner):
    document = ready_document(team, "valves.txt", "Valves are inspected monthly.")
    conversation = services.create_conversation(workspace=team, user=owner)
    assert selectors.scope_documents(conversation)[0].text == "Valves are inspected monthly."
    # A refresh re-extracts in place, as the pipeline's update_or_create does.
    ExtractedText.objects.update_or_create(
        sha256=document.sha256, defaults={"text": "Valves are inspected weekly."}
    )
    assert selectors.scope_documents(conversation)[0].text == "Valves are inspected weekly."


def test_the_least_recently_used_texts_go_first_past_the_limit(team):
    texts = [ready_document(team, f"d{i}.txt", str(i) * 40).text for i in range(3)]
    cache = TextCache(max_chars=100)
    versions = {t.pk: t.updated_at for t in texts}
    assert cache.texts(versions) == {t.pk: t.text for t in texts}
    assert list(cache._items) == [texts[1].pk, texts[2].pk]  # 120 chars: the first went
    cache.texts({texts[1].pk: texts[1].updated_at})  # used again: now the newest
    cache.texts({texts[0].pk: texts[0].updated_at})
    assert list(cache._items) == [texts[1].pk, texts[0].pk]
    assert cache._chars == 80


def test_a_text_too_large_for_the_cache_is_returned_but_not_kept(team):
    text = ready_document(team, "big.txt", "x" * 200).text
    cache = TextCache(max_chars=100)
    assert cache.texts({text.pk: text.updated_at}) == {text.pk: "x" * 200}
    assert not cache._items

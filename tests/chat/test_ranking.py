"""Passages and BM25 ranking in English and Chinese."""

from __future__ import annotations

from apps.chat.ranking import chunk_document, rank, split_passages, terms
from apps.moonshot.tokens import estimate_tokens

from .helpers import chinese_filler, english_filler, with_needle


def test_terms_are_lowercased_words_and_cjk_bigrams():
    assert terms("Revenue REPORTS, analysis; class") == ["revenue", "report", "analysis", "class"]
    assert terms("年度报告") == ["年度", "度报", "报告"]
    assert terms("Kimi 的 API") == ["kimi", "的", "api"]
    assert terms("ＡＢＣ１２３") == ["abc123"]  # full-width forms are folded (NFKC)


def test_passages_follow_paragraphs_and_stay_within_the_size():
    text = english_filler(5_000)
    passages = split_passages(text)
    assert len(passages) > 5
    for passage, tokens in passages:
        assert tokens <= 500 and tokens >= estimate_tokens(passage)
    assert all(tokens >= 300 for _, tokens in passages[:-1])  # packed, not one per paragraph
    # Nothing is lost or cut mid-paragraph.
    assert "\n\n".join(p for p, _ in passages) == text


def test_long_lines_and_run_on_text_are_still_cut_to_size():
    lines = "\n".join(f"Line {i}: the pressure reading was nominal." for i in range(400))
    run_on = "没有任何标点符号的超长文本" * 3_000
    for text in (lines, run_on):
        passages = split_passages(text)
        assert len(passages) > 1
        assert all(tokens <= 500 for _, tokens in passages)
        assert "".join(p for p, _ in passages).replace("\n", "") == text.replace("\n", "")


def test_ranking_finds_the_english_passage():
    needle = "The emergency shutdown code for the turbine hall is BRAVO-9."
    passages = chunk_document(1, with_needle(english_filler(8_000), needle))
    best = rank(passages, "What is the emergency shutdown code?")[0]
    assert needle in best.passage.text and best.score > 0


def test_ranking_finds_the_chinese_passage():
    needle = "涡轮机房的紧急停机代码是布拉沃九号。"
    passages = chunk_document(1, with_needle(chinese_filler(8_000), needle, at=0.3))
    best = rank(passages, "紧急停机代码是什么？")[0]
    assert needle in best.passage.text and best.score > 0


def test_ranking_across_documents_uses_document_frequency():
    a = chunk_document(1, "Valves and gaskets.\n\nThe annual budget is 3 million yuan.")
    b = chunk_document(2, "Valves everywhere. Valves again.")
    ranked = rank([*a, *b], "valves budget")
    assert ranked[0].passage.doc_id == 1  # the rare term "budget" outweighs a common one


def test_unmatched_questions_fall_back_to_document_order_interleaved():
    a = chunk_document(1, english_filler(1_200))
    b = chunk_document(2, english_filler(1_200))
    ranked = rank([*a, *b], "zzz")
    assert all(s.score == 0 for s in ranked)
    assert [(s.passage.doc_id, s.passage.index) for s in ranked[:4]] == [
        (1, 0),
        (2, 0),
        (1, 1),
        (2, 1),
    ]

"""Quotations in answers, checked against the documents (apps/chat/quotes.py)."""

from __future__ import annotations

from apps.chat.quotes import QuoteCheck, check_quotes, documents_used
from apps.chat.services import mark_cited_sources

DOCS = {
    "maintenance.txt": "Gaskets are replaced each spring.\n\nThe emergency shutdown valve is\n"
    "tested every 90 days by the night shift.",
    "合同.pdf": "第三条　合同期限为三年，自双方签字之日起生效。付款应在收到发票后三十日内完成。",
}


def test_a_quotation_credited_to_the_right_document_is_found():
    answer = (
        'The manual says: "The emergency shutdown valve is tested every 90 days by the night '
        'shift." [maintenance.txt]'
    )
    assert check_quotes(answer, DOCS) == [
        QuoteCheck(
            "The emergency shutdown valve is tested every 90 days by the night shift.",
            "maintenance.txt",
            True,
        )
    ]


def test_a_quotation_the_cited_document_does_not_contain_is_not_found():
    answer = "“The valve is tested every 30 days by the day shift.” [maintenance.txt]"
    [check] = check_quotes(answer, DOCS)
    assert (check.document, check.found) == ("maintenance.txt", False)


def test_a_true_quotation_credited_to_the_wrong_document_is_not_found():
    answer = '"Gaskets are replaced each spring." [合同.pdf]'
    [check] = check_quotes(answer, DOCS)
    assert (check.document, check.found) == ("合同.pdf", False)


def test_chinese_quotes_with_full_width_punctuation_and_brackets():
    answer = (
        "根据合同，「合同期限为三年，自双方签字之日起生效」【合同.pdf】。"
        "另见『付款应在收到发票后三十日内完成』。"
    )
    checks = check_quotes(answer, DOCS)
    assert [(c.document, c.found) for c in checks] == [("合同.pdf", True), ("", True)]


def test_case_whitespace_and_an_ellipsis_do_not_matter_but_order_does():
    shortened = (
        '"the EMERGENCY shutdown valve … every 90 days by the night shift" [maintenance.txt]'
    )
    assert check_quotes(shortened, DOCS)[0].found
    reordered = (
        '"every 90 days by the night shift ... the emergency shutdown valve" [maintenance.txt]'
    )
    assert not check_quotes(reordered, DOCS)[0].found


def test_without_a_citation_any_document_may_hold_the_quotation():
    [check] = check_quotes('As written: "Gaskets are replaced each spring."', DOCS)
    assert (check.document, check.found) == ("", True)


def test_terms_in_quotes_are_not_quotations():
    answer = 'The "night shift" does it, per the 「合同」 and "force majeure" clause.'
    assert check_quotes(answer, DOCS) == []


def test_several_documents_in_one_citation():
    answer = '"Gaskets are replaced each spring" [合同.pdf, maintenance.txt]'
    [check] = check_quotes(answer, DOCS)
    assert (check.document, check.found) == ("合同.pdf", True)


def test_unknown_citation_falls_back_to_every_document():
    [check] = check_quotes('"Gaskets are replaced each spring" [old-manual.pdf]', DOCS)
    assert (check.document, check.found) == ("", True)


def test_documents_used_are_the_cited_then_the_quoted_in_order_of_use():
    labels = ["a.txt", "maintenance.txt", "合同.pdf"]
    answer = (
        "Per 【合同.pdf】 the term is three years. Also: "
        '"The emergency shutdown valve is tested every 90 days by the night shift." '
        "See [not-a-document.pdf] and [a.txt, 合同.pdf]."
    )
    checks = check_quotes(answer, {label: DOCS.get(label, "") for label in labels})
    # 合同.pdf cited first, then a.txt (cited in a list); maintenance.txt only quoted, uncredited.
    assert documents_used(answer, checks, labels) == ["合同.pdf", "a.txt", "maintenance.txt"]


def test_a_document_neither_cited_nor_quoted_is_not_used():
    answer = "Gaskets are replaced every spring, the manual says."  # a paraphrase, no marks
    assert documents_used(answer, check_quotes(answer, DOCS), list(DOCS)) == []


def test_sources_are_marked_and_the_cited_come_first():
    sources = [
        {"id": 1, "name": "a.txt", "narrowed": False},
        {"id": 2, "name": "b.txt", "narrowed": True},
        {"id": 3, "name": "c.txt", "narrowed": False},
    ]
    marked = mark_cited_sources(sources, ["c.txt", "b.txt"])
    assert [(s["id"], s["cited"]) for s in marked] == [(3, True), (2, True), (1, False)]
    assert marked[1]["narrowed"] is True

"""Passages and lexical relevance, for documents too long to send whole.

When the selected documents exceed the largest context window, the context builder keeps the
passages that best match the question. Ranking is BM25 over Latin words (lowercased, NFKC,
naive plural folding) and CJK character bigrams: Chinese has no spaces, and bigrams are the
usual dependency-free stand-in for word segmentation. It is lexical on purpose (no embeddings,
no provider call), so it works offline and costs nothing; a question phrased with words that do
not occur in the text ranks everything zero, and the caller then falls back to document order.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from apps.moonshot.tokens import estimate_tokens

# Han, kana and hangul (no punctuation): these scripts are indexed as character bigrams.
_CJK_CHARS = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TERM_RUN = re.compile(rf"[{_CJK_CHARS}]+|[^\W_{_CJK_CHARS}]+")
_CJK_RUN = re.compile(rf"[{_CJK_CHARS}]")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\u3000]*\n+")
_LINE_END = re.compile(r"\n")
_SENTENCE_END = re.compile(r"(?<=[.!?;。！？；])")

# Passages are packed up to this size, so most land between about 300 and 500 tokens: big enough
# to carry an answer with its context, small enough that several documents share a window.
PASSAGE_MAX_TOKENS = 500
BM25_K1 = 1.5
BM25_B = 0.75


@dataclass(frozen=True)
class Passage:
    """A slice of one document: `index` is its position in the document (0-based)."""

    doc_id: int
    index: int
    text: str
    tokens: int
    term_counts: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class ScoredPassage:
    score: float
    passage: Passage


def terms(text: str) -> list[str]:
    """Index terms: lowercased Latin/digit words, and bigrams of each CJK run.

    A CJK run of one character is kept as a unigram so that single-character words still match.
    """
    out: list[str] = []
    for run in _TERM_RUN.findall(unicodedata.normalize("NFKC", text).lower()):
        if _CJK_RUN.match(run):
            if len(run) == 1:
                out.append(run)
            else:
                out.extend(run[i : i + 2] for i in range(len(run) - 1))
        else:
            out.append(_fold_plural(run))
    return out


def _fold_plural(word: str) -> str:
    """'reports' and 'report' should match; 'class' and 'analysis' must stay intact."""
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "is", "us")):
        return word[:-1]
    return word


def split_passages(text: str, max_tokens: int = PASSAGE_MAX_TOKENS) -> list[tuple[str, int]]:
    """Cut text into (passage, token estimate) pairs of at most about `max_tokens` each.

    Paragraphs are packed together until the next would overflow; a paragraph that is itself too
    long is cut at line ends, then sentence ends, then (for run-on text such as badly extracted
    PDFs) at a fixed character length. A passage's estimate is the sum of its pieces', which is
    never below the estimate of the joined text.
    """
    pieces: list[tuple[str, int]] = []
    for paragraph in _PARAGRAPH_BREAK.split(text):
        paragraph = paragraph.strip()
        if paragraph:
            pieces.extend(_fit(paragraph, max_tokens))
    return _pack(pieces, max_tokens, "\n\n")


def _fit(block: str, max_tokens: int) -> list[tuple[str, int]]:
    """Split one paragraph into pieces that each fit in `max_tokens`."""
    tokens = estimate_tokens(block)
    if tokens <= max_tokens:
        return [(block, tokens)]
    for splitter, joiner in ((_LINE_END, "\n"), (_SENTENCE_END, "")):
        parts = [p for p in splitter.split(block) if p.strip()]
        if len(parts) > 1:
            pieces: list[tuple[str, int]] = []
            for part in parts:
                pieces.extend(_fit(part, max_tokens))
            return [(t.strip(), n) for t, n in _pack(pieces, max_tokens, joiner)]
    return _hard_cut(block, max_tokens)


def _pack(pieces: list[tuple[str, int]], max_tokens: int, joiner: str) -> list[tuple[str, int]]:
    """Greedily join consecutive pieces while the sum stays within `max_tokens`."""
    out: list[tuple[str, int]] = []
    current: list[str] = []
    current_tokens = 0
    for text, tokens in pieces:
        if current and current_tokens + tokens > max_tokens:
            out.append((joiner.join(current), current_tokens))
            current, current_tokens = [], 0
        current.append(text)
        current_tokens += tokens
    if current:
        out.append((joiner.join(current), current_tokens))
    return out


def _hard_cut(block: str, max_tokens: int) -> list[tuple[str, int]]:
    """Last resort: cut at a fixed character length, shrinking it until every piece fits."""
    size = max(1, len(block) * max_tokens // max(1, estimate_tokens(block)))
    while True:
        pieces = [(block[i : i + size], 0) for i in range(0, len(block), size)]
        pieces = [(p, estimate_tokens(p)) for p, _ in pieces]
        if size == 1 or all(n <= max_tokens for _, n in pieces):
            return pieces
        size = max(1, size * 3 // 4)


def chunk_document(doc_id: int, text: str, max_tokens: int = PASSAGE_MAX_TOKENS) -> list[Passage]:
    """The document's passages in order, each with its token estimate and index terms."""
    return [
        Passage(doc_id=doc_id, index=i, text=t, tokens=n, term_counts=Counter(terms(t)))
        for i, (t, n) in enumerate(split_passages(text, max_tokens))
    ]


def rank(passages: Sequence[Passage], query: str) -> list[ScoredPassage]:
    """All passages, best first, scored with BM25 against `query`.

    Ties (including the all-zero case) keep the earliest passages first, interleaving documents
    (first passage of each document, then the second of each …), so an unmatched question still
    sees the beginning of every document rather than all of the first one.
    """
    query_terms = set(terms(query))
    docs = [p.term_counts or Counter(terms(p.text)) for p in passages]
    n = len(docs)
    avg_len = (sum(sum(d.values()) for d in docs) / n) if n else 0.0
    df = Counter(t for d in docs for t in query_terms.intersection(d))
    scored = []
    for passage, counts in zip(passages, docs, strict=True):
        length = sum(counts.values())
        score = 0.0
        for term in query_terms:
            tf = counts.get(term, 0)
            if not tf:
                continue
            idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
            norm = BM25_K1 * (1 - BM25_B + BM25_B * length / avg_len) if avg_len else BM25_K1
            score += idf * tf * (BM25_K1 + 1) / (tf + norm)
        scored.append(ScoredPassage(score=score, passage=passage))
    scored.sort(key=lambda s: (-s.score, s.passage.index, s.passage.doc_id))
    return scored


def best_passages(passages: Iterable[Passage], query: str, limit: int = 3) -> list[Passage]:
    """The `limit` best-matching passages (used by the offline answerer)."""
    return [s.passage for s in rank(list(passages), query)[:limit]]

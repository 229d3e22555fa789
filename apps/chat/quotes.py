"""Quotations in an answer, checked against the text of the documents the model was given.

Wrong or invented citations are what users of document chat complain about most: a model can
put a sentence in quotation marks and credit it to a document that never says it. With the
documents' full text at hand the check is cheap: each quoted span of the answer ("…", “…”,
「…」, 『…』) long enough to be a quotation rather than a term is looked up in the document cited
right after it ("…" [report.pdf]), or in every document in scope when none is cited.

Matching ignores case, runs of whitespace, full-/half-width forms (NFKC) and quote styles; an
ellipsis inside a quotation (the model shortening it) splits it into parts that must all be found,
in order. A quotation not found is not proof of a wrong answer: the model may have translated or
paraphrased inside the marks. The page therefore says "not found in the documents", never "false".

Pure: no database, no network.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

from apps.chat.prompts import citation_label

# Straight quotes may not span a line; the paired typographic and CJK marks may not nest.
_QUOTE = re.compile(
    r'"([^"\n]{1,2000})"|“([^“”\n]{1,2000})”|「([^「」\n]{1,2000})」|『([^『』\n]{1,2000})』'
)
# Citation brackets right after a quotation, maybe after closing punctuation ("。【a】").
_CITED_AFTER = re.compile(
    r"^[\s.,;:!?。，；：！？)）]{0,3}(?:\[([^\[\]\n]{1,600})\]|【([^【】\n]{1,600})】)"
)
# Any citation bracket in the answer ("… [report.pdf]", "【合同.docx】"), wherever it stands.
_CITATION = re.compile(r"\[([^\[\]\n]{1,600})\]|【([^【】\n]{1,600})】")
_CITATION_SPLIT = re.compile(r"\s*[,;、，；]\s*")
_ELLIPSIS = re.compile(r"\s*(?:\[…\]|\[\.\.\.\]|…+|\.{3,})\s*")
_SPACE = re.compile(r"\s+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_WORD = re.compile(r"\w+")
MIN_CJK_CHARS = 6  # 「合同」 is a term; 「合同期限为三年」 is a quotation
MIN_WORDS = 4  # "force majeure" is a term; "payment is due within 30 days" is a quotation
MAX_STORED_CHARS = 300
MAX_QUOTES = 20


@dataclass(frozen=True)
class QuoteCheck:
    quote: str  # as written in the answer (cut to MAX_STORED_CHARS)
    document: str  # the citation label it was credited to, "" when none followed it
    found: bool
    found_in: str = field(default="", compare=False)  # the first document holding it

    def as_json(self) -> dict[str, str | bool]:
        return {"quote": self.quote, "document": self.document, "found": self.found}


def normalize(text: str) -> str:
    """The form both sides are compared in (see the module docstring)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = text.translate(_QUOTE_STYLES)
    return _SPACE.sub(" ", text).strip()


_QUOTE_STYLES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "「": '"', "」": '"'})


def is_quotation(span: str) -> bool:
    """Long enough to be a quotation rather than a term or a name."""
    if len(_CJK.findall(span)) >= MIN_CJK_CHARS:
        return True
    return len(_WORD.findall(span)) >= MIN_WORDS


def check_quotes(answer: str, documents: Mapping[str, str]) -> list[QuoteCheck]:
    """Each quotation in `answer`, checked against `documents` (citation label → full text)."""
    normalized: dict[str, str] = {}

    def text_of(label: str) -> str:
        if label not in normalized:
            normalized[label] = normalize(documents[label])
        return normalized[label]

    checks = []
    for match in _QUOTE.finditer(answer):
        span = next(group for group in match.groups() if group is not None).strip()
        if not is_quotation(span):
            continue
        cited = _cited_after(answer[match.end() : match.end() + 620], documents)
        labels = cited or list(documents)
        found_in = next((label for label in labels if _contains(text_of(label), span)), "")
        checks.append(
            QuoteCheck(span[:MAX_STORED_CHARS], cited[0] if cited else "", bool(found_in), found_in)
        )
        if len(checks) == MAX_QUOTES:
            break
    return checks


def documents_used(answer: str, checks: list[QuoteCheck], labels: list[str]) -> list[str]:
    """The labels (of `labels`) the answer used, in the order it first used them: each one
    cited in brackets anywhere in the answer, then each whose text holds one of its
    quotations. A document the answer neither cites nor quotes was only in scope, whatever the
    model read of it."""
    known = set(labels)
    used: dict[str, None] = {}
    for match in _CITATION.finditer(answer):
        inside = match.group(1) if match.group(1) is not None else match.group(2)
        names = [
            citation_label(inside),
            *(citation_label(n) for n in _CITATION_SPLIT.split(inside)),
        ]
        used.update(dict.fromkeys(name for name in names if name in known))
    for check in checks:
        if check.found_in in known:
            used[check.found_in] = None
    return list(used)


def _cited_after(following: str, documents: Mapping[str, str]) -> list[str]:
    """The labels of `documents` cited in the brackets that directly follow a quotation."""
    match = _CITED_AFTER.match(following)
    if match is None:
        return []
    inside = match.group(1) if match.group(1) is not None else match.group(2)
    names = [citation_label(inside), *(citation_label(n) for n in _CITATION_SPLIT.split(inside))]
    return list(dict.fromkeys(name for name in names if name in documents))


def _contains(text: str, quote: str) -> bool:
    """Every ellipsis-separated part of `quote`, in order, in the normalized `text`."""
    start = 0
    for part in _ELLIPSIS.split(quote):
        part = normalize(part).strip(" .,;:!?。，；：！？")
        if not part:
            continue
        at = text.find(part, start)
        if at < 0:
            return False
        start = at + len(part)
    return True

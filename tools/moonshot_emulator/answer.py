"""The emulator's "model": answer from the system messages, so tests can prove document text
reached the provider.

The system messages are split into sentences (Chinese 。！？, Latin .!? before a space, and line
breaks); each sentence is scored against the last user message by lexical overlap — lowercased
Latin words and CJK character bigrams, weighted by rarity across the sentences — and the best one
is quoted verbatim. Sentences are attributed to the document named before them: a line
`Document: name` (also File/文档/文件), a line starting `[name]`, an inline `[name.ext]`, a
`<document name="...">` tag, or a system message that is the raw /files/{id}/content JSON (its
`filename`). When any document is named, only document sentences compete, so a persona prompt
cannot be "the answer". No overlap at all means the documents do not contain the answer.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NO_ANSWER_EN = "The documents do not contain the answer to this question."
NO_ANSWER_ZH = "文档中没有找到这个问题的答案。"

_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_CJK_RUN = re.compile(f"[{_CJK}]+")
_LATIN = re.compile(r"[A-Za-z0-9]+")
_BOUNDARY = re.compile(r"[。！？；]+[”’」』）)]*|[.!?]+[\"'”’)\]]*(?=\s|$)|\n")
_ABBREVIATION = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|Inc|Ltd|Co|vs|etc|No|Fig|e\.g|i\.e)|\b[A-Z])$"
)
_MARKERS = (
    re.compile(
        r"^[ \t]*(?:Document|File|Source|文档|文件)(?:[ \t]*name)?[ \t]*[:：][ \t]*"
        r"\[?(?P<name>[^\[\]\n]+?)\]?[ \t]*$",
        re.MULTILINE | re.IGNORECASE,
    ),
    re.compile(r"^[ \t]*\[(?P<name>[^\[\]\n]{1,200})\]", re.MULTILINE),
    re.compile(r"\[(?P<name>[^\[\]\n]{1,200}\.[A-Za-z0-9]{1,8})\]"),
    re.compile(r"<document\b[^>\n]*?\bname=[\"'](?P<name>[^\"'\n]+)[\"'][^>\n]*>", re.IGNORECASE),
)
_STOP_WORDS = frozenset(
    re.findall(
        r"\w+",
        "a an and are as at be by can could did do does for from had has have how i in is it its"
        " me my of on or our please should tell than that the their there these they this to was"
        " we were what when where which who whom why will with would you your about according"
        " document documents file files",
    )
)
_STOP_BIGRAMS = frozenset(
    re.findall(
        r"\w+",
        "什么 哪里 哪个 哪些 怎么 如何 为什 么是 请问 文档 文件 根据 这个 那个 我们 你们 他们"
        " 一个 是什 中的 的是 告诉 一下",
    )
)


@dataclass(frozen=True)
class Sentence:
    text: str
    document: str | None


def derive_answer(messages: Sequence[Mapping[str, Any]]) -> str:
    question = next(
        (content_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"),
        "",
    )
    chinese = bool(_CJK_RUN.search(question))
    sentences = [
        s
        for m in messages
        if m.get("role") == "system"
        for s in _sentences(content_text(m.get("content")))
    ]
    if any(s.document for s in sentences):
        sentences = [s for s in sentences if s.document]
    best = _best_sentence(question, sentences)
    if best is None:
        return NO_ANSWER_ZH if chinese else NO_ANSWER_EN
    cite = f" [{best.document}]" if best.document else ""
    if chinese:
        return f"根据文档：“{best.text}”{cite}"
    return f'According to the documents: "{best.text}"{cite}'


def content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(p.get("text", "")) for p in content if isinstance(p, Mapping) and "text" in p
        )
    return ""


def features(text: str) -> set[str]:
    """Lowercased Latin words (plural 's' folded, stop words dropped) and CJK bigrams."""
    out = set()
    for word in _LATIN.findall(text.lower()):
        if word in _STOP_WORDS or (len(word) == 1 and not word.isdigit()):
            continue
        if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.add(word)
    for run in _CJK_RUN.findall(text):
        if len(run) == 1:
            out.add(run)
        out.update(run[i : i + 2] for i in range(len(run) - 1))
    return out - _STOP_BIGRAMS


def _sentences(text: str) -> list[Sentence]:
    text, markers = _unwrap_content_json(text)
    chars = list(text)
    for pattern in _MARKERS:
        for match in pattern.finditer(text):
            markers.append((match.start(), match.group("name").strip()))
            chars[match.start() : match.end()] = " " * (match.end() - match.start())
    markers.sort()
    blanked = "".join(chars)
    out = []
    start = 0
    for boundary in [*_BOUNDARY.finditer(blanked), None]:
        if (
            boundary
            and boundary.group() == "."
            and _ABBREVIATION.search(blanked, 0, boundary.start())
        ):
            continue  # "Dr. Keller", "J. Smith", "e.g. this" do not end a sentence
        end = boundary.end() if boundary else len(blanked)
        piece = blanked[start:end].strip()
        if piece and features(piece):
            # The last document named before the end of the sentence.
            names = [name for position, name in markers if position < end]
            out.append(Sentence(piece, names[-1] if names else None))
        start = end
    return out


_CONTENT_JSON = re.compile(r'\{\s*"content"\s*:')


def _unwrap_content_json(text: str) -> tuple[str, list[tuple[int, str]]]:
    """Replace each embedded /files/{id}/content body (`{"content":…,"filename":…}`) by its
    text, and mark where each such document starts."""
    decoder = json.JSONDecoder()
    parts: list[str] = []
    markers: list[tuple[int, str]] = []
    length = 0
    position = 0
    for match in _CONTENT_JSON.finditer(text):
        if match.start() < position:
            continue
        try:
            data, end = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if not isinstance(data, dict) or not isinstance(data.get("content"), str):
            continue
        before = text[position : match.start()] + "\n"
        parts.append(before)
        length += len(before)
        if data.get("filename"):
            markers.append((length, str(data["filename"])))
        parts.append(data["content"] + "\n")
        length += len(data["content"]) + 1
        position = end
    parts.append(text[position:])
    return "".join(parts), markers


def _best_sentence(question: str, sentences: list[Sentence]) -> Sentence | None:
    wanted = features(question)
    if not wanted or not sentences:
        return None
    sentence_features = [features(s.text) for s in sentences]
    frequency: dict[str, int] = {}
    for feats in sentence_features:
        for f in feats & wanted:
            frequency[f] = frequency.get(f, 0) + 1
    best, best_score = None, 0.0
    for sentence, feats in zip(sentences, sentence_features, strict=True):
        score = sum(math.log(1 + len(sentences) / frequency[f]) for f in feats & wanted)
        if score > best_score:
            best, best_score = sentence, score
    return best

"""Document fixtures of a known size, in English and Chinese."""

from __future__ import annotations

import hashlib

from apps.chat.context import DocumentText
from apps.moonshot.tokens import estimate_tokens


def make_doc(doc_id: int, name: str, text: str, *, token_count: int | None = None) -> DocumentText:
    return DocumentText(
        id=doc_id,
        name=name,
        text=text,
        token_count=estimate_tokens(text) if token_count is None else token_count,
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
    )


def english_filler(tokens: int, seed: str = "maintenance") -> str:
    """Paragraphs of plausible, repetitive prose, about `tokens` tokens in all."""
    paragraphs = []
    total = 0
    i = 0
    while total < tokens:
        paragraph = (
            f"Section {i} describes the routine {seed} schedule for the pumping equipment. "
            "Operators inspect valves, record pressure readings and replace worn gaskets. "
            "Any anomaly is logged in the shift book and reviewed by the supervisor."
        )
        paragraphs.append(paragraph)
        total += estimate_tokens(paragraph)
        i += 1
    return "\n\n".join(paragraphs)


def chinese_filler(tokens: int) -> str:
    paragraphs = []
    total = 0
    i = 0
    while total < tokens:
        paragraph = (
            f"第{i}节介绍水泵设备的日常维护计划。操作人员检查阀门，记录压力读数，并更换磨损的垫片。"
            "任何异常都记录在交接班日志中，由主管审核。"
        )
        paragraphs.append(paragraph)
        total += estimate_tokens(paragraph)
        i += 1
    return "\n\n".join(paragraphs)


def with_needle(filler: str, needle: str, at: float = 0.6) -> str:
    """Insert `needle` as its own paragraph at fraction `at` of the filler."""
    paragraphs = filler.split("\n\n")
    position = int(len(paragraphs) * at)
    return "\n\n".join([*paragraphs[:position], needle, *paragraphs[position:]])

"""Local token estimates for budgeting (model choice, admission cost, context trimming).

Calibrated to the provider's tokenizer figures in the reference: about one token per 1.5–2
Chinese characters, and roughly four Latin characters per token. The estimate leans high on
purpose: an over-estimate costs a little unused context, an under-estimate costs a 400 from the
provider. Where an exact figure matters (close to a limit), the client's estimate endpoint is used.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# Han, kana, hangul and full-width punctuation: each such character is about 0.6 tokens.
_CJK = re.compile(
    r"[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]"
)
_WORD = re.compile(r"[A-Za-z]+|\d+|[^\sA-Za-z\d]")
CJK_TOKENS_PER_CHAR = 0.625  # 1 token per 1.6 characters
LATIN_CHARS_PER_TOKEN = 4.0
MESSAGE_OVERHEAD_TOKENS = 4  # role and separators around each message
REQUEST_OVERHEAD_TOKENS = 3


def estimate_tokens(text: str) -> int:
    """Estimate how many tokens the provider counts for `text`."""
    if not text:
        return 0
    cjk = len(_CJK.findall(text))
    rest = _CJK.sub(" ", text)
    latin = 0.0
    for piece in _WORD.findall(rest):
        if piece[0].isalpha():
            latin += max(1.0, len(piece) / LATIN_CHARS_PER_TOKEN)
        elif piece[0].isdigit():
            latin += max(1.0, len(piece) / 3)
        else:
            latin += 1.0
    return math.ceil(cjk * CJK_TOKENS_PER_CHAR + latin)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, ...]
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return ""


def estimate_messages_tokens(
    messages: Iterable[Mapping[str, Any]], *, estimate: Callable[[str], int] = estimate_tokens
) -> int:
    """Estimate the prompt tokens of a chat request's `messages` (each text by `estimate`)."""
    total = REQUEST_OVERHEAD_TOKENS
    for message in messages:
        total += MESSAGE_OVERHEAD_TOKENS + estimate(_content_text(message.get("content")))
    return total

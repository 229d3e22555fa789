"""Decide whether bytes are text, and in which encoding, the same way for upload and extraction.

UTF-8 (with or without a BOM) first, UTF-16 only when it starts with its BOM, then GB18030, the
superset of GBK/GB2312 that Chinese Windows tools still write. Text holds at most a sprinkle of
control characters (NUL included: exports and logs do carry a stray one); binary data (an
executable renamed to .txt) is full of them and fails here. UTF-8 admits encoded surrogates
(CESU-8, as Java and MySQL's utf8mb3 write characters beyond the BMP); ``textclean`` joins or
replaces them before the text is stored.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterable

# C0 controls other than tab, newlines, form feed and ESC (ANSI colours in logs).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")
MAX_CONTROL_RATIO = 0.01


def candidate_encodings(head: bytes) -> list[str]:
    if head.startswith(codecs.BOM_UTF8):
        return ["utf-8-sig"]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return ["utf-16"]
    return ["utf-8", "gb18030"]


def _errors(encoding: str) -> str:
    return "surrogatepass" if encoding.startswith("utf-8") else "strict"


def _is_text(chunks: Iterable[bytes], encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)(errors=_errors(encoding))
    total = controls = 0
    try:
        for chunk in chunks:
            piece = decoder.decode(chunk)
            total += len(piece)
            controls += len(_CONTROL.findall(piece))
        piece = decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    total += len(piece)
    controls += len(_CONTROL.findall(piece))
    return controls <= total * MAX_CONTROL_RATIO


def detect_text_encoding(head: bytes, chunks: Callable[[], Iterable[bytes]]) -> str | None:
    """The encoding in which every chunk decodes to plausible text, or None for binary data.

    ``chunks`` is called once per candidate encoding and must yield the whole content each time.
    """
    for encoding in candidate_encodings(head):
        if _is_text(chunks(), encoding):
            return encoding
    return None


def decode_text(data: bytes) -> str | None:
    """Decode a whole file with the upload rules; None when it is not text."""
    encoding = detect_text_encoding(data[:4], lambda: [data])
    if encoding is None:
        return None
    return data.decode(encoding, _errors(encoding))

"""Make extracted text storable: the one normalisation every extractor's output goes through.

Real documents carry characters PostgreSQL or UTF-8 cannot hold. pypdf maps glyphs of fonts
without a Unicode table to control characters (the public GeoTopo thesis yields NUL and \\x12
for ⊆), the provider passes them on in its JSON, and text exported by Java tools (CESU-8) or
escaped in JSON can hold lone UTF-16 surrogates. PostgreSQL refuses NUL in a text field and
psycopg cannot encode a surrogate, so one such character used to fail the whole document.

Here NUL is dropped, every other C0 control except tab, newline and carriage return becomes a
space (it stood for a glyph, so words stay apart), a surrogate pair split in two code units is
joined again, and a lone surrogate becomes U+FFFD. Nothing here can fail.
"""

from __future__ import annotations

import json
import re
from typing import Any

_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_CONTROLS = {code: " " for code in (*range(0x01, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20))}
_CONTROLS[0x00] = None
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """``text`` with NUL removed, other C0 controls (but \\t \\n \\r) as spaces and lone
    surrogates as U+FFFD; the same object when there was nothing to change (the usual case)."""
    if not _UNSTORABLE.search(text):
        return text
    text = text.translate(_CONTROLS)
    if _SURROGATE.search(text):
        # Through UTF-16: a high + low pair becomes its real character, a lone half U+FFFD.
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def _clean_values(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(k): _clean_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean_values(v) for v in value]
    return value


def clean_content(content: str) -> str:
    """The chat payload (the provider's compact JSON, or the text itself) made storable.

    JSON escapes (``\\u0000``, ``\\ud800``) are storable as such but would reach the model and
    decode back to the same bad characters, so a JSON body is cleaned value by value and
    written again compact with sorted keys, the provider's own layout (reference §2.6). A body
    with nothing to clean is returned untouched: the provider asks for its raw text.
    """
    try:
        data = json.loads(content)
    except ValueError:
        return clean_text(content)
    cleaned = _clean_values(data)
    if cleaned == data and not _UNSTORABLE.search(content):
        return content
    return json.dumps(cleaned, ensure_ascii=False, separators=(",", ":"), sort_keys=True)

"""Make text storable: what PostgreSQL and UTF-8 cannot hold, replaced the same way everywhere.

Real documents and the provider's messages carry characters PostgreSQL or UTF-8 cannot hold.
pypdf maps glyphs of fonts without a Unicode table to control characters (the public GeoTopo
thesis yields NUL and \\x12 for ⊆), the provider passes them on in its JSON (and may echo them
in an error message), and text exported by Java tools (CESU-8) or escaped in JSON can hold lone
UTF-16 surrogates. PostgreSQL refuses NUL in text and jsonb, and psycopg cannot encode a
surrogate, so one such character used to fail a whole write.

Here NUL is dropped, every other C0 control except tab, newline and carriage return becomes a
space (it stood for a glyph, so words stay apart), a surrogate pair split in two code units is
joined again, and a lone surrogate becomes U+FFFD. Nothing here can fail.
"""

from __future__ import annotations

import re

_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_CONTROLS: dict[int, str | None] = {
    code: " " for code in (*range(0x01, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20))
}
_CONTROLS[0x00] = None
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def needs_cleaning(text: str) -> bool:
    return bool(_UNSTORABLE.search(text))


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

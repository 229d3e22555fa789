"""The chat payload made storable, with the same rules as every text (``apps.core.textclean``).

Every extraction strategy's text and content pass through ``pipeline._store``, which cleans
the plain text with ``clean_text`` and the content with ``clean_content`` here.
"""

from __future__ import annotations

import json
from typing import Any

from apps.core.textclean import clean_text, needs_cleaning


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
    if cleaned == data and not needs_cleaning(content):
        return content
    return json.dumps(cleaned, ensure_ascii=False, separators=(",", ":"), sort_keys=True)

"""The offline answer (no MOONSHOT_API_KEY): the most relevant passages, quoted and labelled.

It is built before streaming (it needs the documents) and streamed in small pieces exactly like
a model's answer, so the page behaves the same with or without a key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from django.utils.translation import gettext as _

from .context import DocumentText
from .ranking import chunk_document, rank

TOP_PASSAGES = 3
_PIECE = re.compile(r"\S+\s*|\s+")


def compose(documents: Sequence[DocumentText], question: str) -> str:
    label = _(
        "**Offline answer**: no AI model is configured, so here are the passages that best "
        "match your question, quoted from the documents."
    )
    if not documents:
        return label + "\n\n" + _("There are no ready documents in scope to search.")
    passages = [p for d in documents for p in chunk_document(d.id, d.text)]
    best = [s for s in rank(passages, question)[:TOP_PASSAGES] if s.score > 0]
    if not best:
        return label + "\n\n" + _("None of the documents in scope seem to mention this.")
    names = {d.id: d.name for d in documents}
    parts = [label]
    for scored in best:
        quoted = "\n".join(
            f"> {line}" if line else ">" for line in scored.passage.text.splitlines()
        )
        parts.append(f"{quoted}\n\n— [{names[scored.passage.doc_id]}]")
    return "\n\n".join(parts)


def pieces(text: str, size: int = 24) -> Iterator[str]:
    """Split into word-aligned pieces of about `size` characters (CJK runs are cut by length)."""
    buffer = ""
    for token in _PIECE.findall(text):
        buffer += token
        while len(buffer) >= size:
            yield buffer[:size]
            buffer = buffer[size:]
    if buffer:
        yield buffer

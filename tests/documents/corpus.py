"""Real-world PDFs and what pypdf makes of them: the yardstick for the corpus tests.

A PDF from the corpus must end one of two ways: ``ready`` with the text pypdf finds, or with a
specific, human message for the reason pypdf finds none (encrypted, no text layer, damaged).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from apps.core.textclean import clean_text

VENDORED = Path(__file__).resolve().parents[1] / "corpus"
MIRROR = Path(os.environ.get("DOCQA_PDF_CORPUS_MIRROR", "/work/.mirror/py-pdf+sample-files/repo"))

ENCRYPTED, NO_TEXT, DAMAGED, TEXT = "encrypted", "no text", "damaged", "text"
# The failure codes that say each kind in words, for either strategy (local or provider).
FAILURE_CODES = {
    NO_TEXT: {"no_text", "provider_no_text"},
    DAMAGED: {"damaged", "provider_unreadable"},
}


@dataclass(frozen=True)
class Expected:
    kind: str
    text: str = ""  # pypdf's text, cleaned as the app stores it, for kind TEXT


def words(text: str) -> str:
    """Text compared by its words: strategies join pages and lines differently."""
    return " ".join(text.split())


_KNOWN: dict[str, Expected] = {}


def expected(data: bytes) -> Expected:
    """What pypdf finds in these bytes (computed once per content in a test session)."""
    digest = hashlib.sha256(data).hexdigest()
    if digest not in _KNOWN:
        _KNOWN[digest] = _read(data)
    return _KNOWN[digest]


def _read(data: bytes) -> Expected:
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            return Expected(ENCRYPTED)
        text = "\n".join((page.extract_text() or "").strip() for page in reader.pages)
    except Exception:  # pypdf cannot read it: the app must say "damaged"
        return Expected(DAMAGED)
    text = clean_text(text)
    return Expected(TEXT, text) if text.strip() else Expected(NO_TEXT)


def vendored_pdfs() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(VENDORED.glob("*.pdf"))}


def mirror_pdfs() -> dict[str, bytes] | None:
    """Every PDF in the bare mirror whose blob is present, by path; None without a mirror.

    A mirror may list a large file without holding its blob (``GeoTopo.pdf`` here): those are
    left out, since there are no bytes to test.
    """
    if not (MIRROR / "HEAD").exists():
        return None
    git = ["git", f"--git-dir={MIRROR}"]
    listing = subprocess.run(
        [*git, "ls-tree", "-r", "HEAD"], check=True, capture_output=True, text=True
    ).stdout
    entries = [line.split(None, 3) for line in listing.splitlines()]
    pdfs = [(sha, path) for _mode, kind, sha, path in entries if kind == "blob"]
    pdfs = [(sha, path) for sha, path in pdfs if path.lower().endswith(".pdf")]
    batch = subprocess.run(
        [*git, "cat-file", "--batch"],
        input="".join(f"{sha}\n" for sha, _ in pdfs).encode(),
        check=True,
        capture_output=True,
    ).stdout
    found: dict[str, bytes] = {}
    offset = 0
    for _sha, path in pdfs:
        end = batch.index(b"\n", offset)
        header = batch[offset:end].split()
        offset = end + 1
        if header[-1] == b"missing":
            continue
        size = int(header[2])
        data = batch[offset : offset + size]
        offset += size + 1
        if data:
            found[path] = data
    return found

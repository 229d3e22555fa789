"""Generated inputs at the edges real files reach: text with NUL, other C0 controls and
surrogates (as an uploaded .txt and as the provider's extracted text), a 100k-line CSV, a DOCX
with 10k paragraphs, an XLSX with 50 sheets and a PPTX with speaker notes. Each goes through
upload → a real worker (local extractors, or the provider emulator) → the detail page and
must end ready with its text."""

from __future__ import annotations

import functools
import io
import json
from dataclasses import dataclass, field

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils.html import escape

from apps.documents.models import Document, Status
from tests.conftest import running_celery_worker
from tests.samples import make_docx, make_xlsx
from tests.test_workspace_access import login

from .test_worker import _wait_final

pytestmark = pytest.mark.celery_worker

# U+1F600 as CESU-8 (each UTF-16 half encoded on its own, as Java and MySQL's utf8mb3 write
# it), then a high surrogate with no partner.
CESU8_SMILE = b"\xed\xa0\xbd\xed\xb8\x80"
LONE_SURROGATE = b"\xed\xa0\x80"
FILLER = "\n".join(f"Line {i}: ordinary words around the odd ones." for i in range(300))
ODD_HEAD = b"Start\x00of\x01text\x1fhere\x0bnext\x0cpage smile " + CESU8_SMILE
ODD_TXT = ODD_HEAD + b" lone " + LONE_SURROGATE + b" end\n" + FILLER.encode()
# What the app stores: NUL gone, other controls as spaces, the pair joined, the lone half U+FFFD.
ODD_CLEAN = "Startof text here next page smile \U0001f600 lone \ufffd end\n" + FILLER
# The same oddities as a provider's extracted text (its JSON escapes them as \u0000, \ud800 …).
PROVIDER_ODD = "Startof\x00 \x07bell\x1b[0m tab\there \ud83d\ude00 lone \udc00 end\n" + FILLER
PROVIDER_CLEAN = "Startof  bell [0m tab\there \U0001f600 lone \ufffd end\n" + FILLER


@dataclass
class Case:
    data: bytes
    exact: str | None = None  # the whole stored text, when it is known to the character
    phrases: list[str] = field(default_factory=list)
    lines: int | None = None


def _pptx_with_notes() -> bytes:
    from pptx import Presentation

    presentation = Presentation()
    for n in range(1, 4):
        slide = presentation.slides.add_slide(presentation.slide_layouts[1])
        slide.shapes.title.text = f"Roadmap part {n}"
        slide.placeholders[1].text = f"Ship milestone {n} before the review"
        slide.notes_slide.notes_text_frame.text = f"Speaker note {n}: mention the budget"
    out = io.BytesIO()
    presentation.save(out)
    return out.getvalue()


@functools.cache
def _generated() -> dict[str, bytes]:
    """The generated files' bytes, built once (the DOCX alone takes seconds)."""
    sheets = {f"Sheet {n}": [[f"s{n}r{r}", r * n] for r in range(20)] for n in range(1, 51)}
    return {
        "ledger.csv": CSV.encode(),
        "report.docx": make_docx(*PARAGRAPHS),
        "book.xlsx": make_xlsx(sheets),
        "deck.pptx": _pptx_with_notes(),
    }


CSV = "id,name,amount\n" + "\n".join(f"{i},item {i},{i * 3}" for i in range(1, 100_000))
PARAGRAPHS = [f"Paragraph {i} of the long report." for i in range(10_000)]


def _inputs(*, notes: bool) -> dict[str, Case]:
    """The cases; ``notes``: whether the extractor reads speaker notes (the local one does;
    the provider's handling of notes is not documented, so the emulator reads slides only)."""
    data = _generated()
    slides = [f"Ship milestone {n} before the review" for n in range(1, 4)]
    if notes:
        slides += [f"Speaker note {n}: mention the budget" for n in range(1, 4)]
    return {
        "ledger.csv": Case(data["ledger.csv"], exact=CSV, lines=100_000),
        "report.docx": Case(data["report.docx"], exact="\n".join(PARAGRAPHS), lines=10_000),
        "book.xlsx": Case(
            data["book.xlsx"],
            phrases=[f"Sheet {n}" for n in range(1, 51)]
            + [f"s{n}r19\t{19 * n}" for n in range(1, 51)],
        ),
        "deck.pptx": Case(data["deck.pptx"], phrases=slides),
    }


def _upload_all(client, team, files: dict[str, Case]) -> dict[str, Document]:
    url = reverse("documents:upload", args=[team.slug])
    ids = {}
    for name, case in files.items():
        response = client.post(
            url,
            {"file": SimpleUploadedFile(name, case.data)},
            headers={"Accept": "application/json"},
        )
        [result] = response.json()["results"]
        assert result["ok"], result["message"]
        ids[name] = result["document"]["id"]
    documents = _wait_final(*ids.values(), timeout=180)
    return {name: documents[pk] for name, pk in ids.items()}


def _check(client, team, name: str, case: Case, document: Document) -> None:
    assert document.status == Status.READY, (name, document.failure_reason)
    text = document.text.text
    if case.exact is not None:
        assert text == case.exact, name
    for phrase in case.phrases:
        assert phrase in text, (name, phrase)
    if case.lines is not None:
        assert len(text.splitlines()) == case.lines, name
    content = json.loads(document.text.content)
    assert content["content"] == text, name  # chat sends the same cleaned text
    page = client.get(reverse("documents:detail", args=[team.slug, document.pk]))
    first = text.splitlines()[0]
    assert escape(first) in page.content.decode(), name


def test_generated_inputs_through_the_local_extractors(transactional_db, team, member):
    files = {**_inputs(notes=True), "odd.txt": Case(ODD_TXT, exact=ODD_CLEAN)}
    client = login(member)
    with running_celery_worker():
        documents = _upload_all(client, team, files)
    for name, case in files.items():
        _check(client, team, name, case, documents[name])
        assert documents[name].extractor.startswith("local:"), name


def test_generated_inputs_through_the_provider(
    provider_settings, transactional_db, emulator, team, member
):
    # The remote copy is named docqa-<uuid>.txt: the forced text applies to the .txt upload.
    emulator.faults.extract_text_for(".txt", PROVIDER_ODD)
    forced = Case(b"any text; the provider's answer is forced", exact=PROVIDER_CLEAN)
    files = {**_inputs(notes=False), "odd.txt": forced}
    client = login(member)
    with running_celery_worker():
        documents = _upload_all(client, team, files)
    for name, case in files.items():
        _check(client, team, name, case, documents[name])
        assert documents[name].extractor == "moonshot", name
    stored = documents["odd.txt"].text.content
    assert "\\u0000" not in stored and "\\ud" not in stored  # no escape left for the model


def test_odd_provider_text_as_a_plain_text_body(
    provider_settings, transactional_db, emulator, team, member
):
    """The 2026 OpenAPI says the content body is text/plain: the same oddities, unwrapped."""
    emulator.config.update(content_format="plain")
    emulator.faults.extract_text_for(".txt", PROVIDER_ODD)
    forced = Case(b"any text; the provider's answer is forced", exact=PROVIDER_CLEAN)
    client = login(member)
    with running_celery_worker():
        documents = _upload_all(client, team, {"odd.txt": forced})
    document = documents["odd.txt"]
    assert document.status == Status.READY, document.failure_reason
    assert document.text.text == PROVIDER_CLEAN == document.text.content

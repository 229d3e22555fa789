"""Offline extractors: the text of common formats without the provider.

Each reader takes the stored original as a binary file and returns plain text. A password that
cannot be opened fails with ``encrypted``; anything a library raises on a broken file becomes
``damaged``; formats that need OCR or a legacy Office parser (images, .doc/.xls/.ppt) fail with
``needs_provider``.
"""

from __future__ import annotations

import posixpath
import zipfile
from collections.abc import Callable, Iterable, Iterator
from html.parser import HTMLParser
from typing import IO, Any
from xml.etree import ElementTree

from celery.exceptions import SoftTimeLimitExceeded

from apps.documents.failures import ExtractionFailed
from apps.documents.models import Status
from apps.documents.textcodec import decode_text

from . import ExtractionContext, ExtractionResult, content_json

Reader = Callable[[IO[bytes]], str]


def _lines(rows: Iterable[Iterable[Any]], sep: str = "\t") -> Iterator[str]:
    for row in rows:
        cells = ["" if v is None else str(v).strip() for v in row]
        if any(cells):
            yield sep.join(cells).rstrip()


def _opens_without_password(reader: Any) -> bool:
    """Owner-password-only PDFs (print/copy restrictions) open with an empty password."""
    try:
        return bool(reader.decrypt(""))
    except Exception:  # an unknown algorithm or a missing crypto provider
        return False


def read_pdf(file: IO[bytes]) -> str:
    from pypdf import PdfReader

    reader = PdfReader(file, strict=False)
    if reader.is_encrypted and not _opens_without_password(reader):
        raise ExtractionFailed("encrypted")
    return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages)


def read_docx(file: IO[bytes]) -> str:
    import docx
    from docx.table import Table

    document = docx.Document(file)
    parts: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            parts.extend(_lines(([c.text for c in row.cells] for row in block.rows), " | "))
        elif block.text.strip():
            parts.append(block.text)
    return "\n".join(parts)


def read_xlsx(file: IO[bytes]) -> str:
    import openpyxl

    workbook = openpyxl.load_workbook(file, read_only=True, data_only=True)
    try:
        parts: list[str] = []
        for sheet in workbook.worksheets:
            rows = list(_lines(sheet.iter_rows(values_only=True)))
            if rows:
                parts.append(f"# {sheet.title}\n" + "\n".join(rows))
        return "\n\n".join(parts)
    finally:
        workbook.close()


def _shape_text(shape: Any) -> Iterator[str]:
    if getattr(shape, "has_text_frame", False) and shape.text_frame.text.strip():
        yield shape.text_frame.text
    if getattr(shape, "has_table", False):
        yield from _lines(([c.text for c in row.cells] for row in shape.table.rows), " | ")
    for child in getattr(shape, "shapes", ()):  # group shapes
        yield from _shape_text(child)


def read_pptx(file: IO[bytes]) -> str:
    from pptx import Presentation

    parts: list[str] = []
    for number, slide in enumerate(Presentation(file).slides, start=1):
        texts = [t for shape in slide.shapes for t in _shape_text(shape)]
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame.text.strip():
            texts.append(slide.notes_slide.notes_text_frame.text)
        if texts:
            parts.append(f"# Slide {number}\n" + "\n".join(texts))
    return "\n\n".join(parts)


def _decoded(file: IO[bytes]) -> str:
    text = decode_text(file.read())
    if text is None:
        raise ExtractionFailed("damaged", kind="text")
    return text


class _HTMLText(HTMLParser):
    """Visible text of an HTML page: no scripts, styles or markup; blocks become lines."""

    BLOCKS = frozenset(
        {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote"}
        | {"section", "article", "header", "footer", "table"}
    )
    HIDDEN = frozenset({"script", "style", "noscript", "template", "head"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)

    def text(self) -> str:
        lines = (" ".join(line.split()) for line in "".join(self.parts).splitlines())
        return "\n".join(line for line in lines if line)


def html_to_text(markup: str) -> str:
    parser = _HTMLText()
    parser.feed(markup)
    parser.close()
    return parser.text()


def read_html(file: IO[bytes]) -> str:
    return html_to_text(_decoded(file))


def _epub_spine(archive: zipfile.ZipFile) -> list[str]:
    """Content documents in reading order (the OPF spine), or every XHTML file sorted by name.

    ElementTree resolves no external entities and, with expat >= 2.4.1 (bundled with Python
    3.11), refuses entity-expansion bombs, so parsing these two small files is safe.
    """
    ns = {
        "c": "urn:oasis:names:tc:opendocument:xmlns:container",
        "opf": "http://www.idpf.org/2007/opf",
    }
    try:
        container = ElementTree.fromstring(archive.read("META-INF/container.xml"))  # noqa: S314
        rootfile = container.find(".//c:rootfile", ns)
        opf_path = rootfile.get("full-path", "") if rootfile is not None else ""
        opf = ElementTree.fromstring(archive.read(opf_path))  # noqa: S314
        base = posixpath.dirname(opf_path)
        items = {
            i.get("id"): i.get("href", "") for i in opf.iterfind(".//opf:manifest/opf:item", ns)
        }
        spine = [
            items.get(r.get("idref"), "") for r in opf.iterfind(".//opf:spine/opf:itemref", ns)
        ]
        paths = [posixpath.normpath(posixpath.join(base, href)) for href in spine if href]
        if paths:
            return paths
    except (KeyError, ElementTree.ParseError):
        pass
    return sorted(n for n in archive.namelist() if n.lower().endswith((".xhtml", ".html", ".htm")))


def read_epub(file: IO[bytes]) -> str:
    with zipfile.ZipFile(file) as archive:
        names = set(archive.namelist())
        chapters = [
            html_to_text(archive.read(path).decode("utf-8", errors="replace"))
            for path in _epub_spine(archive)
            if path in names
        ]
    return "\n\n".join(c for c in chapters if c)


READERS: dict[str, tuple[str, Reader]] = {
    "pdf": ("local:pdf", read_pdf),
    "docx": ("local:docx", read_docx),
    "xlsx": ("local:xlsx", read_xlsx),
    "pptx": ("local:pptx", read_pptx),
    "epub": ("local:epub", read_epub),
    "html": ("local:html", read_html),
}


def reader_for(extension: str) -> tuple[str, Reader] | None:
    from apps.documents.formats import Family, family_of

    if extension in READERS:
        return READERS[extension]
    if family_of(extension) == Family.TEXT:
        return ("local:text", _decoded)
    return None


class LocalStrategy:
    name = "local"
    initial_status = Status.EXTRACTING

    def extract(self, context: ExtractionContext) -> ExtractionResult:
        document = context.document
        found = reader_for(document.extension)
        if found is None:
            raise ExtractionFailed("needs_provider", kind=document.extension.upper())
        extractor, read = found
        with context.open_original() as file:
            try:
                text = read(file)
            except (ExtractionFailed, SoftTimeLimitExceeded):
                raise
            except Exception as exc:  # libraries raise anything on damaged input
                raise ExtractionFailed("damaged", kind=document.extension.upper()) from exc
        text = text.strip()
        return ExtractionResult(
            text=text,
            content=content_json(text=text, file_type=document.mime_type, filename=document.name),
            extractor=extractor,
        )

"""Text extraction at upload time, as the provider's file-extract does (reference §2.6, §3).

`file_type` is sniffed from the bytes, not taken from the name, so OOXML files (docx, xlsx, pptx)
report "application/zip" exactly like the real captures. What can fail: corrupt or encrypted
documents, binary data that is not a format we read, legacy OLE Office files (.doc/.xls/.ppt:
no parser here), and images. The provider's image OCR is deprecated (reference §3) and the
emulator has no OCR, so every image counts as "an image with no text": status "error".
"""

from __future__ import annotations

import io
import logging
import zipfile
from dataclasses import dataclass

logging.getLogger("pypdf").setLevel(logging.ERROR)  # malformed test PDFs are expected


@dataclass(frozen=True)
class Extraction:
    status: str  # "ok" or "error"
    content: str
    file_type: str
    error: str = ""


class ExtractionError(Exception):
    pass


_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x00\x00\x01\x00", "image/x-icon"),
)
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def sniff(data: bytes) -> str:
    """The MIME type the bytes look like (magic numbers first, then text or binary)."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "application/zip"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for magic, mime in _IMAGE_MAGIC:
        if data.startswith(magic):
            return mime
    if data.startswith(_OLE):
        return "application/x-ole-storage"
    head = data[:8192]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" not in head:
        lowered = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
        if lowered.startswith((b"<!doctype html", b"<html")):
            return "text/html"
        return "text/plain"
    return "application/octet-stream"


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030 — the encodings Chinese and
    English teams actually produce."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise ExtractionError("unrecognised text encoding") from exc


def extract(filename: str, data: bytes) -> Extraction:
    file_type = sniff(data)
    try:
        content = _extract(file_type, data)
    except ExtractionError as exc:
        return Extraction("error", "", file_type, str(exc))
    except Exception as exc:  # any parser failure means a corrupt file, never a server crash
        return Extraction("error", "", file_type, f"{type(exc).__name__}: {exc}"[:300])
    return Extraction("ok", content, file_type)


def _extract(file_type: str, data: bytes) -> str:
    if file_type.startswith("text/"):
        return decode_text(data)
    if file_type == "application/pdf":
        return _pdf(data)
    if file_type == "application/zip":
        return _ooxml(data)
    if file_type.startswith("image/"):
        raise ExtractionError("no text found in the image")
    if file_type == "application/x-ole-storage":
        raise ExtractionError("legacy binary Office files are not supported")
    raise ExtractionError("unsupported binary file")


def _pdf(data: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted and not reader.decrypt(""):
        raise ExtractionError("the PDF is encrypted")
    pages = [(page.extract_text() or "").strip() for page in reader.pages]
    text = "\n".join(p for p in pages if p)
    if not text.strip():
        raise ExtractionError("no text layer in the PDF (scanned images)")
    return text


def _ooxml(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
    if "word/document.xml" in names:
        return _docx(data)
    if "xl/workbook.xml" in names:
        return _xlsx(data)
    if "ppt/presentation.xml" in names:
        return _pptx(data)
    raise ExtractionError("unsupported zip archive")


def _docx(data: bytes) -> str:
    import docx
    from docx.table import Table

    document = docx.Document(io.BytesIO(data))
    lines: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                lines.append("\t".join(cell.text.strip() for cell in row.cells))
        elif block.text.strip():
            lines.append(block.text)
    return "\n".join(lines)


def _xlsx(data: bytes) -> str:
    import openpyxl

    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheets = []
        for sheet in workbook.worksheets:
            rows = []
            for row in sheet.iter_rows(values_only=True):
                cells = ["" if v is None else str(v) for v in row]
                while cells and not cells[-1]:
                    cells.pop()
                if cells:
                    rows.append("\t".join(cells))
            sheets.append("\n".join([sheet.title, *rows]))
        return "\n\n".join(sheets)
    finally:
        workbook.close()


def _pptx(data: bytes) -> str:
    from pptx import Presentation

    slides = []
    for slide in Presentation(io.BytesIO(data)).slides:
        parts = []
        for shape in slide.shapes:
            if shape.has_text_frame and shape.text_frame.text.strip():
                parts.append(shape.text_frame.text)
            elif getattr(shape, "has_table", False) and shape.has_table:
                for row in shape.table.rows:
                    parts.append("\t".join(cell.text for cell in row.cells))
        slides.append("\n".join(parts))
    return "\n\n".join(s for s in slides if s)

"""Shared helpers for the emulator tests: a running emulator per module, documents in every
format the extractor reads, and raw SSE parsing."""

from __future__ import annotations

import dataclasses
import io
import json
import time
from collections.abc import Callable, Iterator

import httpx
from openai import OpenAI

from apps.moonshot.emulator import EmulatorConfig, EmulatorServer

KEY = "sk-emulator"
AUTH = {"Authorization": f"Bearer {KEY}"}


def running_emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(api_key=KEY)) as emu:
        yield emu


def fresh(emu: EmulatorServer) -> EmulatorServer:
    """Reset state and faults, and put every config field back to its default."""
    emu.reset()
    defaults = EmulatorConfig(api_key=KEY)
    for field in dataclasses.fields(defaults):
        setattr(emu.config, field.name, getattr(defaults, field.name))
    return emu


def sdk(emu: EmulatorServer, key: str = KEY) -> OpenAI:
    return OpenAI(base_url=emu.base_url, api_key=key, max_retries=0, timeout=20)


def http(emu: EmulatorServer) -> httpx.Client:
    return httpx.Client(base_url=emu.url, headers=AUTH, timeout=20)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def sse_events(text: str) -> list[str]:
    """The `data:` payloads of a complete SSE body, checking the framing on the way."""
    assert text.endswith("\n\n"), "every event ends with a blank line"
    events = text[:-2].split("\n\n")
    assert all(e.startswith("data: ") and "\n" not in e for e in events), events
    return [e[len("data: ") :] for e in events]


def chunks(text: str) -> list[dict]:
    payloads = sse_events(text)
    assert payloads[-1] == "[DONE]"
    return [json.loads(p) for p in payloads[:-1]]


# -- documents -------------------------------------------------------------------------------


def make_pdf(lines: list[str]) -> bytes:
    """A minimal, valid one-page PDF with a Helvetica text layer (ASCII text)."""
    ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
    for line in lines:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(f"({escaped}) Tj T*")
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
        % (
            len(objects) + 1,
            xref,
        )
    )
    return out.getvalue()


def make_docx(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    import docx

    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_xlsx(rows: list[list[object]], title: str = "Budget") -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def make_pptx(slides: list[tuple[str, str]]) -> bytes:
    from pptx import Presentation

    presentation = Presentation()
    for title, body in slides:
        slide = presentation.slides.add_slide(presentation.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    out = io.BytesIO()
    presentation.save(out)
    return out.getvalue()


PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)

"""Upload validation: every refused file gets its own message and leaves nothing behind."""

from __future__ import annotations

import io
import zipfile

import pytest

from apps.documents.models import Document
from apps.documents.services import DocumentError, UploadRejected, ingest_upload
from apps.documents.validation import sanitize_filename
from apps.workspaces.models import Membership
from tests.samples import ELF_HEADER, make_docx, make_encrypted_pdf, make_pdf, make_png, make_xlsx

from .conftest import stored_files, upload


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


REFUSED = [
    ("empty.txt", b"", "empty.txt is empty."),
    ("tool.exe", b"MZ\x90\x00", ".exe files are not supported (tool.exe)."),
    ("README", b"hello", "README has no file extension"),
    ("a.pdf\x00.exe", make_pdf("x"), ".exe files are not supported (a.pdf.exe)."),
    (
        "program.pdf",
        ELF_HEADER,
        "program.pdf is not a real .pdf file: its content looks like an executable program.",
    ),
    (
        "page.pdf",
        b"<!DOCTYPE html>\n<html><body><p>Login</p></body></html>",
        "page.pdf is not a real .pdf file: its content looks like an HTML page.",
    ),
    ("secret.pdf", make_encrypted_pdf(), "secret.pdf is password-protected."),
    (
        "sheet.docx",
        make_xlsx({"S": [["x"]]}),
        "sheet.docx is really a .xlsx file (Excel workbook)",
    ),
    (
        "fake.docx",
        _zip({"hello.txt": b"hi"}),
        "fake.docx is not a real .docx file: its content looks like a ZIP archive.",
    ),
    (
        "locked.docx",
        bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00" * 600,
        "locked.docx is password-protected or saved in an old format.",
    ),
    ("truncated.xlsx", make_xlsx({"S": [["x"]]})[:200], "truncated.xlsx is damaged"),
    ("photo.png", b"GIF89a" + b"\x00" * 64, "looks like an image (GIF)."),
    ("book.epub", _zip({"mimetype": b"text/plain"}), "book.epub is not a real .epub file"),
    ("old.doc", make_docx("x"), "old.doc is not a real .doc file"),
    (
        "binary.txt",
        ELF_HEADER,
        "binary.txt does not look like a text file: its content looks like an executable program.",
    ),
    ("latin.txt", b"caf\xe9 \xff\xfe\xff", "latin.txt does not look like a text file"),
]


@pytest.mark.parametrize(("name", "data", "message"), REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_uploads_say_why_and_store_nothing(name, data, message, team, owner_membership):
    with pytest.raises(UploadRejected) as refused:
        ingest_upload(actor=owner_membership, upload=upload(name, data))
    assert message in str(refused.value)
    assert not Document.objects.exists()
    assert stored_files(team) == []


def test_over_the_site_limit(settings, team, owner_membership):
    settings.DOCQA_MAX_UPLOAD_BYTES = 10
    with pytest.raises(UploadRejected, match=r"big.txt is 11\s+bytes, more than the limit of 10"):
        ingest_upload(actor=owner_membership, upload=upload("big.txt", b"x" * 11))
    assert not Document.objects.exists() and stored_files(team) == []


def test_the_provider_cap_applies_over_a_larger_site_limit(settings):
    from apps.documents.formats import PROVIDER_MAX_FILE_BYTES, max_upload_bytes

    settings.DOCQA_MAX_UPLOAD_BYTES = 10 * PROVIDER_MAX_FILE_BYTES
    assert max_upload_bytes() == PROVIDER_MAX_FILE_BYTES


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("notes.txt", "你好，世界".encode("gb18030")),
        ("utf16.txt", "hello wörld".encode("utf-16")),
        ("bom.md", "\ufeff# Title".encode()),
        ("data.json", b'{"a": 1}'),
        ("restricted.pdf", make_encrypted_pdf(user_password="")),  # owner password only
        ("pixel.png", make_png()),
        ("memo.docx", make_docx("Memo")),
    ],
)
def test_good_files_are_accepted(name, data, team, owner_membership):
    result = ingest_upload(actor=owner_membership, upload=upload(name, data))
    document = result.document
    assert result.created and document.name == name
    assert document.storage_name == f"ws/{team.pk}/{document.uuid}.{document.extension}"
    assert stored_files(team) == [f"{document.uuid}.{document.extension}"]


def test_a_pdf_pypdf_cannot_parse_is_accepted_and_its_extraction_says_damaged(
    team, owner_membership
):
    """The pre-check refuses only what surely cannot be extracted (issue 16, point 5): a PDF
    with a broken structure goes on, and the extractor that fails on it says so in words."""
    from apps.documents.pipeline import run_extraction

    broken = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage without xref"
    document = ingest_upload(actor=owner_membership, upload=upload("broken.pdf", broken)).document
    run_extraction(document.pk)
    document.refresh_from_db()
    assert document.status == "failed" and document.failure_code == "damaged"
    assert document.failure_message.startswith(
        "This file is damaged: its content could not be read as a PDF file."
    )


def test_viewers_cannot_ingest(team, viewer):
    membership = Membership.objects.get(workspace=team, user=viewer)
    with pytest.raises(DocumentError):
        ingest_upload(actor=membership, upload=upload("a.txt", b"hi"))
    assert not Document.objects.exists() and stored_files(team) == []


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\windows\\evil.txt", "evil.txt"),
        ("re\x00port.pdf", "report.pdf"),
        ("a.pdf\x00.exe", "a.pdf.exe"),
        ("tab\tand\nnewline.txt", "tab and newline.txt"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("e\u0301te\u0301.txt", "été.txt"),
        ("📄📄📄.pdf", "📄📄📄.pdf"),
        ("🎉", "🎉"),
        ("\x01\x02\x03.pdf", "document.pdf"),
        ("...", "document"),
        ("", "document"),
        ("  .hidden.txt ", "hidden.txt"),
        ("report.PDF", "report.PDF"),
    ],
)
def test_sanitize_filename(raw, clean):
    assert sanitize_filename(raw) == clean


def test_long_names_keep_their_extension():
    name = sanitize_filename("x" * 300 + ".pdf")
    assert len(name) == 255 and name.endswith("x.pdf")
    cjk = sanitize_filename("文" * 300 + ".docx")
    assert len(cjk) == 255 and cjk.endswith("文.docx")


def test_stored_names_are_sanitised(team, owner_membership):
    weird = "\x01../" + "名" * 300 + ".txt"
    document = ingest_upload(actor=owner_membership, upload=upload(weird, b"hello")).document
    assert len(document.name) == 255 and document.name.endswith(".txt")
    assert "/" not in document.name and "\x01" not in document.name
    emoji = ingest_upload(actor=owner_membership, upload=upload("🎉🎉.md", b"# party")).document
    assert emoji.name == "🎉🎉.md"

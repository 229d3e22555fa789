"""Upload checks: a clean file name, a size within limits, an allowed extension, and content that
really is what the extension says (OWASP file-upload rules, reference §D1).

Nothing here touches the database or storage: ``inspect_upload`` either returns what it learnt
about the file or raises ``UploadRejected`` with a message for the person who uploaded it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from typing import Any

import filetype
from django.core.files import File
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from . import formats
from .formats import Family
from .textcodec import detect_text_encoding

MAX_NAME_LENGTH = 255
FALLBACK_STEM = "document"
# A zip (docx/xlsx/pptx/epub) that unpacks to more than this is refused: a zip bomb, or too big
# to extract anyway.
MAX_UNPACKED_BYTES = 1_000_000_000
MAX_ZIP_ENTRIES = 20_000
HEAD_BYTES = 8192

# Bidirectional overrides and marks let "invoice\u202efdp.exe" display as "invoiceexe.pdf".
_BIDI = dict.fromkeys(
    map(ord, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"), None
)
_SPACES = re.compile(r"\s+")


class UploadRejected(Exception):
    """The upload cannot be accepted; ``str(error)`` tells the uploader why."""


@dataclass(frozen=True)
class Inspection:
    name: str
    extension: str
    family: Family
    mime_type: str
    size: int
    sha256: str


def sanitize_filename(raw: str) -> str:
    """A safe display name: no folders, no control or bidi characters, NFC, at most 255 chars.

    Printable characters of any script stay, emoji included. The extension is kept when the
    name is cut; a name with nothing printable left becomes ``document.<ext>``. NUL bytes are
    removed rather than cut at, so ``a.pdf\\0.exe`` stays an ``.exe`` and is refused.
    """
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _SPACES.sub(" ", name)  # tabs and newlines become spaces before controls go
    name = "".join(
        ch
        for ch in name.translate(_BIDI)
        if unicodedata.category(ch) not in {"Cc", "Cs", "Zl", "Zp"}
    )
    name = _SPACES.sub(" ", name).strip()
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, ""
    stem = stem.strip(" .")
    extension = extension.strip()
    if not stem or stem in {".", ".."}:
        stem = FALLBACK_STEM
    if extension:
        extension = extension[:16]
        stem = stem[: MAX_NAME_LENGTH - len(extension) - 1].rstrip(" .") or FALLBACK_STEM
        return f"{stem}.{extension}"
    return stem[:MAX_NAME_LENGTH]


def extension_of(name: str) -> str:
    stem, dot, extension = name.rpartition(".")
    return extension.lower() if dot and stem else ""


def describe_content(head: bytes) -> str:
    """What the first bytes look like, in words, for 'this is not really a …' messages."""
    if head[:1024].find(b"%PDF-") != -1:
        return _("a PDF document")
    kind = filetype.guess(head)
    if kind is not None:
        if kind.extension in {"elf", "exe", "wasm", "crx", "deb", "rpm"}:
            return _("an executable program")
        if kind.mime.startswith("image/"):
            return _("an image (%(type)s)") % {"type": kind.extension.upper()}
        if kind.extension == "zip":
            return _("a ZIP archive")
        return _("a %(type)s file") % {"type": kind.extension.upper()}
    if head.startswith(formats.OLE_SIGNATURE):
        return _("a legacy Office file (doc, xls or ppt)")
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:512].lower()
    if start.startswith((b"<!doctype html", b"<html")) or b"<html" in start:
        return _("an HTML page")
    if detect_text_encoding(head, lambda: [head]) is not None:
        return _("plain text")
    return _("unrecognised binary data")


def _kind_label(extension: str) -> str:
    return {
        "pdf": _("PDF"),
        "docx": _("Word document"),
        "xlsx": _("Excel workbook"),
        "pptx": _("PowerPoint presentation"),
        "doc": _("Word document"),
        "xls": _("Excel workbook"),
        "ppt": _("PowerPoint presentation"),
        "epub": _("EPUB book"),
    }.get(extension, extension.upper())


def _mismatch(name: str, extension: str, head: bytes) -> UploadRejected:
    return UploadRejected(
        _("%(name)s is not a real .%(ext)s file: its content looks like %(actual)s.")
        % {"name": name, "ext": extension, "actual": describe_content(head)}
    )


def _damaged(name: str, extension: str) -> UploadRejected:
    return UploadRejected(
        _("%(name)s is damaged and cannot be opened as a %(kind)s.")
        % {"name": name, "kind": _kind_label(extension)}
    )


def _check_pdf(file: Any, name: str, head: bytes) -> None:
    """Refuse only what surely cannot be extracted: not a PDF at all, or locked by a password.

    pypdf is stricter than the readers people use (and than the provider): a broken cross-
    reference table or metadata it cannot parse may still open everywhere else. So a PDF pypdf
    cannot parse is accepted; extraction then either reads it or says what is wrong.
    """
    if head[:1024].find(b"%PDF-") == -1:
        raise _mismatch(name, "pdf", head)
    if _password_protected(file):
        raise UploadRejected(
            _(
                "%(name)s is password-protected. Remove the password (for example by "
                "printing it to a new PDF) and upload it again."
            )
            % {"name": name}
        )


def _password_protected(file: Any) -> bool:
    """True only when pypdf reads the encryption dictionary and the empty password fails."""
    from pypdf import PdfReader

    try:
        file.seek(0)
        reader = PdfReader(file, strict=False)
        if not reader.is_encrypted:
            return False
    except Exception:  # pypdf raises many kinds of errors on input it cannot parse
        return False
    try:
        # Owner-password-only PDFs (print/copy restrictions) open with an empty password.
        return not reader.decrypt("")
    except Exception:  # an unknown algorithm or a missing crypto provider: the provider may cope
        return False


def _open_zip(file: Any, name: str, extension: str, head: bytes) -> zipfile.ZipFile:
    if head.startswith(formats.OLE_SIGNATURE) and extension in formats.OOXML_MAIN_FOLDER:
        # Password-protected Office files are OLE containers wrapping an encrypted package.
        raise UploadRejected(
            _(
                "%(name)s is password-protected or saved in an old format. Remove the password "
                "or save it again as .%(ext)s, then upload it."
            )
            % {"name": name, "ext": extension}
        )
    if not head.startswith(b"PK\x03\x04"):
        raise _mismatch(name, extension, head)
    try:
        file.seek(0)
        archive = zipfile.ZipFile(file)
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise _damaged(name, extension) from exc
    if len(infos) > MAX_ZIP_ENTRIES or sum(i.file_size for i in infos) > MAX_UNPACKED_BYTES:
        raise UploadRejected(
            _("%(name)s would unpack to more data than DocQA can process.") % {"name": name}
        )
    return archive


def _check_ooxml(file: Any, name: str, extension: str, head: bytes) -> None:
    archive = _open_zip(file, name, extension, head)
    names = archive.namelist()
    folder = formats.OOXML_MAIN_FOLDER[extension]
    if "[Content_Types].xml" not in names or not any(n.startswith(folder) for n in names):
        other = next(
            (
                ext
                for ext, f in formats.OOXML_MAIN_FOLDER.items()
                if any(n.startswith(f) for n in names)
            ),
            None,
        )
        if other is not None and "[Content_Types].xml" in names:
            raise UploadRejected(
                _("%(name)s is really a .%(ext)s file (%(kind)s); rename it and upload it again.")
                % {"name": name, "kind": _kind_label(other), "ext": other}
            )
        raise _mismatch(name, extension, head)


def _check_epub(file: Any, name: str, head: bytes) -> None:
    archive = _open_zip(file, name, "epub", head)
    try:
        mimetype = archive.read("mimetype").strip()
    except (KeyError, zipfile.BadZipFile, OSError) as exc:
        raise _mismatch(name, "epub", head) from exc
    if mimetype != b"application/epub+zip":
        raise _mismatch(name, "epub", head)


def _check_image(name: str, extension: str, head: bytes) -> None:
    kind = filetype.guess(head)
    if kind is None or kind.extension not in formats.IMAGE_SIGNATURES[extension]:
        raise _mismatch(name, extension, head)


def _check_text(file: Any, name: str, head: bytes) -> None:
    if detect_text_encoding(head, file.chunks) is None:
        raise UploadRejected(
            _(
                "%(name)s does not look like a text file: its content looks like %(actual)s. "
                "Text files must be UTF-8 (or GB18030) without binary data."
            )
            % {"name": name, "actual": describe_content(head)}
        )


def _digest(file: Any) -> tuple[str, bytes]:
    sha = hashlib.sha256()
    head = b""
    for chunk in file.chunks():
        if len(head) < HEAD_BYTES:
            head += chunk[: HEAD_BYTES - len(head)]
        sha.update(chunk)
    return sha.hexdigest(), head


def inspect_upload(file: File[bytes], *, original_name: str, max_bytes: int) -> Inspection:
    """Check one uploaded file (a Django ``File``) and describe it, or raise UploadRejected.

    The order matters for the message: an empty or oversized file is refused before its type is
    looked at; the content is read only for files that could be accepted.
    """
    name = sanitize_filename(original_name)
    size = int(file.size or 0)
    if size == 0:
        raise UploadRejected(_("%(name)s is empty.") % {"name": name})
    if size > max_bytes:
        raise UploadRejected(
            _("%(name)s is %(size)s, more than the limit of %(limit)s.")
            % {"name": name, "size": filesizeformat(size), "limit": filesizeformat(max_bytes)}
        )
    extension = extension_of(name)
    family = formats.family_of(extension)
    if family is None:
        message = (
            _("%(name)s has no file extension, so its type is unknown.")
            if not extension
            else _(".%(ext)s files are not supported (%(name)s).")
        )
        raise UploadRejected(
            message % {"name": name, "ext": extension}
            + " "
            + _("Supported: %(list)s.") % {"list": ", ".join(formats.ALLOWED_EXTENSIONS)}
        )
    sha256, head = _digest(file)
    if family == Family.PDF:
        _check_pdf(file, name, head)
    elif family in (Family.DOCX, Family.XLSX, Family.PPTX):
        _check_ooxml(file, name, extension, head)
    elif family == Family.EPUB:
        _check_epub(file, name, head)
    elif family == Family.OLE:
        if not head.startswith(formats.OLE_SIGNATURE):
            raise _mismatch(name, extension, head)
    elif family == Family.IMAGE:
        _check_image(name, extension, head)
    else:
        _check_text(file, name, head)
    file.seek(0)
    return Inspection(
        name=name,
        extension=extension,
        family=family,
        mime_type=formats.mime_type_of(extension),
        size=size,
        sha256=sha256,
    )

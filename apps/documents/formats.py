"""The file types DocQA accepts: the provider's list (reference/moonshot-api.md §3) minus the
formats that are risky to keep or pointless to extract (svg, ico, mobi, …).

Each extension belongs to a family, which decides how its content is checked on upload and which
local extractor (if any) reads it without the provider.
"""

from __future__ import annotations

from enum import StrEnum

# The provider's per-file cap (reference/moonshot-api.md §2.1: 100 MB), counted as Django's
# filesizeformat counts, so the page says "100.0 MB" for exactly this limit.
PROVIDER_MAX_FILE_BYTES = 100 * 1024 * 1024


class Family(StrEnum):
    PDF = "pdf"
    DOCX = "docx"
    XLSX = "xlsx"
    PPTX = "pptx"
    OLE = "ole"  # legacy binary Office: doc, xls, ppt
    EPUB = "epub"
    IMAGE = "image"
    TEXT = "text"


TEXT_EXTENSIONS = (
    *("txt", "csv", "md", "html", "json", "log"),
    *("go", "h", "c", "cpp", "cxx", "cc", "cs", "java", "js", "css", "jsp", "php", "py"),
    *("yaml", "yml", "ini", "conf", "ts", "tsx"),
)
IMAGE_EXTENSIONS = ("jpeg", "jpg", "png", "bmp", "gif", "webp", "tif", "tiff")

FAMILIES: dict[str, Family] = {
    "pdf": Family.PDF,
    "docx": Family.DOCX,
    "xlsx": Family.XLSX,
    "pptx": Family.PPTX,
    "doc": Family.OLE,
    "xls": Family.OLE,
    "ppt": Family.OLE,
    "epub": Family.EPUB,
    **dict.fromkeys(IMAGE_EXTENSIONS, Family.IMAGE),
    **dict.fromkeys(TEXT_EXTENSIONS, Family.TEXT),
}
ALLOWED_EXTENSIONS: tuple[str, ...] = tuple(sorted(FAMILIES))

MIME_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "ppt": "application/vnd.ms-powerpoint",
    "epub": "application/epub+zip",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "png": "image/png",
    "bmp": "image/bmp",
    "gif": "image/gif",
    "webp": "image/webp",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "csv": "text/csv",
    "md": "text/markdown",
    "html": "text/html",
    "json": "application/json",
    "css": "text/css",
    "js": "text/javascript",
    "yaml": "application/yaml",
    "yml": "application/yaml",
}

# What the `filetype` library calls each accepted image format.
IMAGE_SIGNATURES: dict[str, set[str]] = {
    "jpeg": {"jpg"},
    "jpg": {"jpg"},
    "png": {"png", "apng"},
    "bmp": {"bmp"},
    "gif": {"gif"},
    "webp": {"webp"},
    "tif": {"tif"},
    "tiff": {"tif"},
}

# The main part an OOXML package of each kind must contain (a folder inside the zip).
OOXML_MAIN_FOLDER = {"docx": "word/", "xlsx": "xl/", "pptx": "ppt/"}

OLE_SIGNATURE = bytes.fromhex("D0CF11E0A1B11AE1")


def family_of(extension: str) -> Family | None:
    return FAMILIES.get(extension.lower())


def mime_type_of(extension: str) -> str:
    return MIME_TYPES.get(extension, "text/plain" if family_of(extension) == Family.TEXT else "")


def max_upload_bytes() -> int:
    """The site limit, never above what the provider accepts."""
    from django.conf import settings

    return min(settings.DOCQA_MAX_UPLOAD_BYTES, PROVIDER_MAX_FILE_BYTES)

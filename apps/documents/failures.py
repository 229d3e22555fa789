"""Why an extraction failed, as a code plus parameters, shown in the reader's language.

A worker fails a document in whatever language it runs in, but the person reading the reason may
use another one; so the row keeps ``failure_code`` and ``failure_params`` and the page renders the
message at display time. ``failure_reason`` keeps the English text for admins and logs.
"""

from __future__ import annotations

from typing import Any

from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from apps.core.textclean import clean_text

MESSAGES: dict[str, Promise] = {
    "no_text": _(
        "No text was found in this file. If it is a scan or a picture, it needs OCR, which "
        "the Moonshot API provides when a key is configured."
    ),
    "needs_provider": _(
        "Reading %(kind)s files needs the Moonshot API. Ask the site administrator to configure "
        "a Moonshot API key, then retry."
    ),
    "encrypted": _(
        "This file is password-protected, so its text cannot be read. Remove the password (for "
        "example by printing it to a new PDF) and upload it again."
    ),
    "damaged": _(
        "This file is damaged: its content could not be read as a %(kind)s file. If it opens on "
        "your computer, save or export it again (for example with “Print to PDF”) and upload "
        "the new copy."
    ),
    # Rows failed before "encrypted" and "damaged" were told apart keep this code.
    "unreadable": _(
        "The file could not be read: it may be damaged or password-protected. If it opens on "
        "your computer, save or export it again and upload the new copy."
    ),
    "attempts_exhausted": _(
        "Extraction was interrupted %(attempts)s times (the worker stopped or ran out of memory), "
        "so it was given up. Retry to try again."
    ),
    "timeout": _(
        "Extraction took too long and was stopped. Splitting the file into smaller parts usually "
        "helps."
    ),
    "file_missing": _(
        "The stored original of this file is missing. Delete this entry and upload the file again."
    ),
    "provider": _("The AI provider could not extract the text: %(detail)s"),
    "provider_unreadable": _(
        "The AI provider could not read this file (it said: “%(detail)s”). It may be damaged, "
        "password-protected or a scan without text. If it opens on your computer, save or export "
        "it again and upload the new copy."
    ),
    "provider_no_text": _(
        "The AI provider found no text in this file. If it is a scan or a photo, run it through "
        "OCR (most scanner and PDF tools can) and upload the result."
    ),
    "internal": _(
        "An unexpected error stopped the extraction of this file. It was logged for the site "
        "administrator; if a retry fails the same way, they need to look at it."
    ),
}


class ExtractionFailed(Exception):
    """Extraction cannot succeed as things stand; the document becomes FAILED with this code."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        # Stored as jsonb, which refuses NUL even escaped: a detail may echo a file's bytes.
        self.params = {k: clean_text(v) if isinstance(v, str) else v for k, v in params.items()}

    @property
    def english(self) -> str:
        """The message for admins and logs: in English, with the provider's words kept even
        when the user's message leaves them out."""
        with translation.override("en"):
            message = describe(self.code, self.params, self.code)
        detail = str(self.params.get("detail") or "")
        return f"{message} ({detail})" if detail and detail not in message else message


class ExtractionDeferred(Exception):
    """Not now, later: the provider is busy or rate-limited. The document goes back to QUEUED,
    its attempt is refunded, and the task retries after ``countdown`` seconds."""

    def __init__(self, countdown: float) -> None:
        super().__init__(f"deferred for {countdown:.0f} s")
        self.countdown = countdown


def provider_failure(detail: str) -> ExtractionFailed:
    """The failure for the provider's reason ("Failed to extract file: …"), by kind when its
    words say which one; otherwise its own words inside a human sentence."""
    lowered = detail.lower()
    if "encrypt" in lowered or "password" in lowered:
        return ExtractionFailed("encrypted", detail=detail)
    if "no text" in lowered:
        return ExtractionFailed("provider_no_text", detail=detail)
    return ExtractionFailed("provider_unreadable", detail=detail)


def describe(code: str, params: dict[str, Any] | None, fallback: str = "") -> str:
    message = MESSAGES.get(code)
    if message is None:
        return fallback
    try:
        return str(message) % (params or {}) if params else str(message)
    except (KeyError, TypeError, ValueError):
        return fallback or str(message)

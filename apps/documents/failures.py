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

MESSAGES: dict[str, Promise] = {
    "no_text": _(
        "No text was found in this file. If it is a scan or a picture, it needs OCR, which "
        "the Moonshot API provides when a key is configured."
    ),
    "needs_provider": _(
        "Reading %(kind)s files needs the Moonshot API. Ask the site administrator to configure "
        "a Moonshot API key, then retry."
    ),
    "unreadable": _("The file could not be read: it may be damaged or password-protected."),
    "attempts_exhausted": _(
        "Extraction was interrupted %(attempts)s times (the worker stopped or ran out of memory), "
        "so it was given up. Retry to try again."
    ),
    "timeout": _("Extraction took too long and was stopped."),
    "file_missing": _("The stored original of this file is missing."),
    "provider": _("The AI provider could not extract the text: %(detail)s"),
    "internal": _("Something went wrong while extracting the text. Please retry."),
}


class ExtractionFailed(Exception):
    """Extraction cannot succeed as things stand; the document becomes FAILED with this code."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params

    @property
    def english(self) -> str:
        with translation.override("en"):
            return describe(self.code, self.params, self.code)


class ExtractionDeferred(Exception):
    """Not now, later: the provider is busy or rate-limited. The document goes back to QUEUED,
    its attempt is refunded, and the task retries after ``countdown`` seconds."""

    def __init__(self, countdown: float) -> None:
        super().__init__(f"deferred for {countdown:.0f} s")
        self.countdown = countdown


def describe(code: str, params: dict[str, Any] | None, fallback: str = "") -> str:
    message = MESSAGES.get(code)
    if message is None:
        return fallback
    try:
        return str(message) % (params or {}) if params else str(message)
    except (KeyError, TypeError, ValueError):
        return fallback or str(message)

"""The small set of exceptions every provider failure becomes.

Each carries two messages: ``user_message`` is safe to show anyone (translated, no provider
internals, never an account id); ``admin_message`` is for site admins and logs (the provider's own
text with account and key ids scrubbed). ``retryable`` says whether going back through admission
may succeed; ``retry_after`` is the provider's minimum wait, when it gave one.

Mapping follows reference/moonshot-api.md §4 (error catalogue) and perf-reliability-anchors §B4.
"""

from __future__ import annotations

import re
from typing import Any, TypedDict

from django.utils.translation import gettext_lazy as _

from apps.core.textclean import clean_text

# "Your account org-abc<ak-xyz> ..." / "<{organization_id}>" / "{uid}<{ak-id}>": ids never leave.
_ACCOUNT_IDS = re.compile(r"(?:\b[\w.-]+)?<[^<>\s]{1,80}>")
_ORG_WORD = re.compile(r"\b(?:org|ak|user)-[A-Za-z0-9]{4,}\b")


def scrub(text: str) -> str:
    """Remove account, organisation and key identifiers from a provider message, and make it
    storable: a reason that echoes a file's bytes (NUL, a lone surrogate) goes to the ledger,
    the document row and the log."""
    text = clean_text(text)
    text = _ACCOUNT_IDS.sub("[account]", text)
    return _ORG_WORD.sub("[id]", text)


class MoonshotError(Exception):
    """Base for every provider failure. Never carries the API key."""

    default_user_message: Any = _("The AI provider could not handle the request. Please try again.")
    retryable = False

    def __init__(
        self,
        admin_message: str = "",
        *,
        status: int | None = None,
        error_type: str = "",
        retry_after: float | None = None,
        user_message: Any = None,
    ) -> None:
        self.admin_message = scrub(admin_message) if admin_message else self.__class__.__name__
        self.status = status
        self.error_type = error_type
        self.retry_after = retry_after
        self._user_message = user_message
        super().__init__(self.admin_message)

    @property
    def user_message(self) -> str:
        return str(self._user_message or self.default_user_message)


class AuthenticationError(MoonshotError):
    """401/403: the key is wrong, for the other site (.cn vs .ai), or not allowed."""

    default_user_message = _(
        "The AI provider rejected this site's API key. A site admin needs to check it."
    )


class InvalidRequestError(MoonshotError):
    """400: the request itself is wrong; retrying the same request cannot help."""

    default_user_message = _("The AI provider refused the request as invalid.")


class ContextTooLongError(InvalidRequestError):
    default_user_message = _(
        "The documents and question are too long for the model. Choose fewer documents."
    )


class FileTooLargeError(InvalidRequestError):
    default_user_message = _("The file is larger than the provider accepts (100 MB).")


class FileEmptyError(InvalidRequestError):
    default_user_message = _("The file is empty.")


class FileCountExceededError(InvalidRequestError):
    """The account holds the maximum number of files; a reconcile/eviction is needed."""

    default_user_message = _("The provider's file store is full. The file stays queued.")
    retryable = True


class ContentFilterError(InvalidRequestError):
    default_user_message = _("The AI provider refused this content as high risk.")


class NotFoundError(MoonshotError):
    """404: a model id the account cannot use, or a file id that no longer exists."""

    default_user_message = _("The configured model or file is not available at the provider.")


class RateLimitedError(MoonshotError):
    """429 rate_limit_reached_error: concurrency, RPM, TPM or TPD. Retry through admission."""

    default_user_message = _("The AI provider is busy right now. Please try again shortly.")
    retryable = True

    @property
    def dimension(self) -> str:
        """Which limit was hit: concurrency, rpm, tpm, tpd or unknown."""
        text = self.admin_message.lower()
        for key, marker in (
            ("concurrency", "concurrency"),
            ("rpm", "rpm"),
            ("rpm", "max requset"),
            ("tpm", "tpm"),
            ("tpd", "tpd"),
        ):
            if marker in text:
                return key
        return "unknown"


class QuotaExceededError(MoonshotError):
    """429/403 exceeded_current_quota_error: out of credit or suspended. Never retried."""

    default_user_message = _(
        "The AI provider account is out of credit or suspended. A site admin needs to act."
    )


class OverloadedError(MoonshotError):
    """429 engine_overloaded_error or 503: transient, retried with backoff."""

    default_user_message = _("The AI provider is overloaded. Please try again in a moment.")
    retryable = True


class ExtractionFailedError(MoonshotError):
    """The provider could not extract text from a file (status "error" or content 500)."""

    default_user_message = _("The provider could not read text from this file.")


class ServerError(MoonshotError):
    """Other 5xx: transient."""

    default_user_message = _("The AI provider had an internal error. Please try again.")
    retryable = True


class NetworkError(MoonshotError):
    """Connect/read/write timeouts and broken connections: transient."""

    default_user_message = _("Could not reach the AI provider. Please try again.")
    retryable = True


class AdmissionRefused(MoonshotError):
    """Raised locally before any call: the request can never fit the limits (cost > TPM, the
    model window, or the daily token budget is spent)."""

    default_user_message = _("This request is larger than the provider limits allow.")


class _ErrorFields(TypedDict):
    """What from_response passes to every exception it builds, besides the message."""

    status: int | None
    error_type: str
    retry_after: float | None


def from_response(status: int, body: Any, headers: Any = None) -> MoonshotError:
    """Map a non-2xx provider response (status, parsed JSON body or text) to an exception."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or "")
        error_type = str(error.get("type") or "")
    else:
        message = body if isinstance(body, str) else str(body)[:500]
        error_type = ""
    message = message[:1000]
    retry_after = _retry_after(headers)
    if status == 429:  # the text's "try again after N seconds" and Retry-After: the longer
        asked = [v for v in (retry_after, _retry_after_in_message(message)) if v is not None]
        retry_after = max(asked, default=None)
    kwargs: _ErrorFields = {"status": status, "error_type": error_type, "retry_after": retry_after}
    lowered = message.lower()

    if error_type == "exceeded_current_quota_error":
        return QuotaExceededError(message, **kwargs)
    if error_type == "rate_limit_reached_error":
        return RateLimitedError(message, **kwargs)
    if error_type == "engine_overloaded_error" or status == 503:
        return OverloadedError(message, **kwargs)
    if status in (401, 403) or error_type in (
        "invalid_authentication_error",
        "incorrect_api_key_error",
        "permission_denied_error",
    ):
        return AuthenticationError(message, **kwargs)
    if status == 404 or error_type == "resource_not_found_error":
        return NotFoundError(message, **kwargs)
    if status == 429:
        return RateLimitedError(message, **kwargs)
    if status == 400 or error_type in ("invalid_request_error", "content_filter"):
        if error_type == "content_filter":
            return ContentFilterError(message, **kwargs)
        if "token length too long" in lowered or "exceeded model token limit" in lowered:
            return ContextTooLongError(message, **kwargs)
        if "file size is too large" in lowered:
            return FileTooLargeError(message, **kwargs)
        if "file size is zero" in lowered:
            return FileEmptyError(message, **kwargs)
        if "max file count" in lowered:
            return FileCountExceededError(message, **kwargs)
        return InvalidRequestError(message, **kwargs)
    if "failed to extract file" in lowered or "extract task failed" in lowered:
        return ExtractionFailedError(message, **kwargs)
    if status >= 500:
        return ServerError(message, **kwargs)
    return MoonshotError(message, **kwargs)


_TRY_AGAIN_AFTER = re.compile(
    r"try again after\s+(\d+(?:\.\d+)?)\s*(ms|milliseconds?|s|sec|seconds?)"
)


def _retry_after_in_message(message: str) -> float | None:
    """The wait a 429 text asks for: "... please try again after 1 seconds" (reference §4.2)."""
    match = _TRY_AGAIN_AFTER.search(message.lower())
    if match is None:
        return None
    value = float(match.group(1))
    return value / 1000 if match.group(2).startswith("m") else value


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    for name in ("retry-after-ms", "retry-after", "x-retry-after"):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            continue
        return seconds / 1000 if name.endswith("-ms") else seconds
    return None

"""Log filter that removes the provider key and bearer tokens from every record."""

from __future__ import annotations

import logging
import re

_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._\-]+", re.IGNORECASE)
_SK = re.compile(r"\bsk-[A-Za-z0-9]{8,}")
# DocQA's own API keys (apps.api.services.SECRET_PREFIX), wherever they appear.
_DQ = re.compile(r"\bdq_[A-Za-z0-9_\-]{16,}")


def redact(text: str) -> str:
    """Replace the configured key and anything shaped like a bearer token, an `sk-` key or
    a DocQA API key."""
    from django.conf import settings

    key = getattr(settings, "MOONSHOT_API_KEY", "")
    if key:
        text = text.replace(key, "[redacted]")
    text = _BEARER.sub(r"\1[redacted]", text)
    text = _DQ.sub("[redacted]", text)
    return _SK.sub("[redacted]", text)


class RedactSecretsFilter(logging.Filter):
    """Formats the record once and rewrites it without secrets; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the record
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True

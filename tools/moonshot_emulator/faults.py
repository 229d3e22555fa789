"""Fault injection: failed requests, failed extractions, dropped streams, a forced answer, and
a forced extraction result (text as odd as real providers return: NUL, controls, surrogates).

Each fault is armed by a test (or over HTTP by another process) and consumed by the requests it
matches, so a test can say "the next two uploads get 500" and then check the client's retry.
Injected failures happen after authentication and before rate limiting, and do not enter the
rate windows: they stand for the provider failing, not for the client overspending.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

# Reference §4.2 texts for the types a test is likely to inject without a message.
DEFAULT_MESSAGES = {
    "engine_overloaded_error": "The engine is currently overloaded, please try again later",
    "content_filter": "The request was rejected because it was considered high risk",
    "invalid_authentication_error": "Invalid Authentication",
    "permission_denied_error": "The API you are accessing is not open",
    "unexpected_output": "invalid state transition",
    "server_error": "Internal server error",  # invented: the real text is not documented
}


@dataclass
class FailRule:
    remaining: int
    status: int
    error_type: str
    message: str | None
    path_prefix: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Failure:
    status: int
    error_type: str
    message: str | None  # None: the gateway fills the default text for the type


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FailRule] = []
        self._extraction: dict[str, str] = {}
        self._texts: dict[str, str] = {}
        self._drop_after: int | None = None
        self.answer_override: str | None = None

    def fail_next(
        self,
        n: int = 1,
        status: int = 429,
        error_type: str = "rate_limit_reached_error",
        message: str | None = None,
        path_prefix: str | None = None,
    ) -> None:
        """Fail the next `n` API requests (whose path starts with `path_prefix`, if given)."""
        if n < 1 or not 400 <= status <= 599:
            raise ValueError("fail_next needs n >= 1 and a 4xx/5xx status")
        with self._lock:
            self._rules.append(FailRule(n, status, error_type, message, path_prefix))

    def take_failure(self, path: str) -> Failure | None:
        with self._lock:
            for rule in self._rules:
                if rule.path_prefix is None or path.startswith(rule.path_prefix):
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                    return Failure(rule.status, rule.error_type, rule.message)
            return None

    def fail_extraction_for(self, substring: str, reason: str = "bad scan") -> None:
        """Uploads whose filename contains `substring` get status "error" with `reason`."""
        with self._lock:
            self._extraction[substring] = reason

    def extraction_failure(self, filename: str) -> str | None:
        with self._lock:
            for substring, reason in self._extraction.items():
                if substring in filename:
                    return reason
            return None

    def extract_text_for(self, substring: str, text: str) -> None:
        """Uploads whose filename contains `substring` extract to exactly `text` (status ok)."""
        with self._lock:
            self._texts[substring] = text

    def extraction_text(self, filename: str) -> str | None:
        with self._lock:
            for substring, text in self._texts.items():
                if substring in filename:
                    return text
            return None

    def drop_stream_after(self, chunks: int) -> None:
        """The next stream closes the connection after `chunks` content chunks, no [DONE]."""
        if chunks < 0:
            raise ValueError("chunks must be >= 0")
        with self._lock:
            self._drop_after = chunks

    def take_drop(self) -> int | None:
        with self._lock:
            drop, self._drop_after = self._drop_after, None
            return drop

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._extraction.clear()
            self._texts.clear()
            self._drop_after = None
            self.answer_override = None

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "fail_next": [r.as_dict() for r in self._rules],
                "fail_extraction_for": dict(self._extraction),
                "extract_text_for": dict(self._texts),
                "drop_stream_after": self._drop_after,
                "answer_override": self.answer_override,
            }

    def apply(self, spec: dict[str, Any]) -> None:
        """Arm faults from the control plane's JSON (same names as the methods)."""
        known = {
            "clear",
            "fail_next",
            "fail_extraction_for",
            "extract_text_for",
            "drop_stream_after",
            "answer_override",
        }
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"unknown fault: {', '.join(sorted(unknown))}")
        if spec.get("clear"):
            self.clear()
        if "fail_next" in spec:
            rules = spec["fail_next"]
            for rule in rules if isinstance(rules, list) else [rules]:
                self.fail_next(**rule)
        if "fail_extraction_for" in spec:
            rule = spec["fail_extraction_for"]
            if isinstance(rule, dict):
                self.fail_extraction_for(**rule)
            else:
                self.fail_extraction_for(str(rule))
        if "extract_text_for" in spec:
            rule = spec["extract_text_for"]
            self.extract_text_for(str(rule["substring"]), str(rule["text"]))
        if "drop_stream_after" in spec:
            value = spec["drop_stream_after"]
            if value is None:
                self.take_drop()
            else:
                self.drop_stream_after(int(value))
        if "answer_override" in spec:
            value = spec["answer_override"]
            self.answer_override = None if value is None else str(value)

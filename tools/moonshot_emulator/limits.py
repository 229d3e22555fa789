"""Rate-limit windows and the exact 429 texts of reference §4.2.

The provider counts concurrency, requests per minute (RPM) and tokens per minute/day (TPM, TPD),
where a chat request costs prompt tokens + max_tokens at admission (reference §6.1). The emulator
keeps exact sliding logs, so a client that paces itself with any correct limiter never sees a
429, and one that bursts always does. Only admitted requests enter the logs.
"""

from __future__ import annotations

from collections import deque

MINUTE = 60.0
DAY = 86_400.0


class SlidingWindow:
    """Amounts added at given times; `total(now)` sums those younger than `span` seconds."""

    def __init__(self, span: float) -> None:
        self.span = span
        self._entries: deque[tuple[float, int]] = deque()
        self._sum = 0

    def _prune(self, now: float) -> None:
        while self._entries and self._entries[0][0] <= now - self.span:
            _, amount = self._entries.popleft()
            self._sum -= amount

    def total(self, now: float) -> int:
        self._prune(now)
        return self._sum

    def count(self, now: float) -> int:
        self._prune(now)
        return len(self._entries)

    def add(self, now: float, amount: int = 1) -> None:
        self._entries.append((now, amount))
        self._sum += amount

    def clear(self) -> None:
        self._entries.clear()
        self._sum = 0


def concurrency_message(org: str, ak: str, limit: int) -> str:
    return (
        f"Your account {org}<{ak}> request reached organization max concurrency: {limit}, "
        "please try again after 1 seconds"
    )


def rpm_message(org: str, ak: str, limit: int) -> str:
    return (
        f"Your account {org}<{ak}> request reached organization max RPM: {limit}, "
        "please try again after 1 seconds"
    )


def tpm_message(org: str, ak: str, current: int, limit: int) -> str:
    return (
        f"Your account {org}<{ak}> request reached organization TPM rate limit, "
        f"current:{current}, limit:{limit}"
    )


def tpd_message(org: str, ak: str, current: int, limit: int) -> str:
    return (
        f"Your account {org}<{ak}> request reached organization TPD rate limit, "
        f"current:{current}, limit:{limit}"
    )

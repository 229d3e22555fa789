"""Value types of the admission controller: limits, priorities, wait reports and its errors."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from apps.moonshot.errors import AdmissionRefused


class Priority(enum.IntEnum):
    """Who is asking. While any INTERACTIVE caller waits, BACKGROUND callers do not take a slot."""

    INTERACTIVE = 0  # a person is watching (chat)
    BACKGROUND = 1  # ingestion, reconciliation, anything a Celery task does
    # A program through the API (apps/api): queued like BACKGROUND, behind every person waiting
    # in chat and outside the slots kept for chat, so scripts never slow the people.
    API = 2


@dataclass(frozen=True)
class Limits:
    """The provider account's limits (reference moonshot-api §6). ``tpd=None``: no daily limit.

    ``reserve_for_chat`` slots of ``concurrency`` are kept free of background work; by default one
    when the account allows two or more concurrent requests (anchors §B3), else none.
    """

    concurrency: int
    rpm: int
    tpm: int
    tpd: int | None = None
    reserve_for_chat: int | None = None

    def __post_init__(self) -> None:
        for name in ("concurrency", "rpm", "tpm"):
            if getattr(self, name) < 1:
                raise ValueError(f"Limits.{name} must be at least 1")
        if self.tpd is not None and self.tpd < 1:
            raise ValueError("Limits.tpd must be at least 1, or None for no daily limit")

    @property
    def chat_reserve(self) -> int:
        if self.reserve_for_chat is not None:
            return max(0, min(self.reserve_for_chat, self.concurrency - 1))
        return 1 if self.concurrency >= 2 else 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WaitInfo:
    """What a queued caller is told: its place (1 = next), a rough wait, and why it waits.

    ``eta_seconds`` is None when nobody can know (waiting for another request to finish).
    ``reason``: cooldown (the provider said 429), priority (chat goes first), concurrency, rpm,
    tpm, or queue (others arrived first).
    """

    position: int
    eta_seconds: float | None
    reason: str


@dataclass(frozen=True)
class DayCounts:
    """One provider day of the admission history: how often callers had to queue, and how many
    429s the provider sent, by dimension (rpm, tpm, tpd, concurrency, unknown).

    ``day`` is the calendar date in the provider's day (UTC+8 by default, like its TPD reset).
    """

    day: date
    waits: int = 0
    rate_limited: dict[str, int] = field(default_factory=dict)

    @property
    def rate_limited_total(self) -> int:
        return sum(self.rate_limited.values())


class AdmissionTimeout(AdmissionRefused):
    """The caller's ``timeout`` passed while it was still queued. Trying again later may work."""

    default_user_message = _(
        "The AI provider is busy and the request waited too long. Please try again."
    )
    retryable = True


def refusal(reason: str, cost: int, limits: Limits, reset_ms: int) -> AdmissionRefused:
    """The error for a request that cannot be admitted however long it waits."""
    if reason == "tpm":
        return AdmissionRefused(
            f"admission refused: cost {cost} tokens exceeds TPM limit {limits.tpm}",
            user_message=_(
                "The documents and question need more tokens than the AI provider allows per "
                "minute. Choose fewer documents or a smaller answer length."
            ),
        )
    if reason == "tpd_size":
        return AdmissionRefused(
            f"admission refused: cost {cost} tokens exceeds TPD limit {limits.tpd}",
            user_message=_(
                "The documents and question need more tokens than the AI provider allows in a day."
            ),
        )
    hours = max(1, round(reset_ms / 3_600_000))
    return AdmissionRefused(
        f"admission refused: daily token budget (TPD {limits.tpd}) spent; cost {cost}, "
        f"resets in {reset_ms // 1000} s",
        retry_after=reset_ms / 1000,
        user_message=format_lazy(
            _(
                "Today's token budget with the AI provider is used up. "
                "It resets in about {hours} h."
            ),
            hours=hours,
        ),
    )

"""Formatting for usage meters: ``{{ value|amount:"bytes" }}`` and friends.

Units: "bytes" (human file size), "count" and "tokens" (digits grouped by thousands), "cny"
(yuan with up to four decimals, so the cost of a single answer is still visible).
"""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.template.defaultfilters import filesizeformat

register = template.Library()


@register.filter
def amount(value: int | Decimal | None, unit: str = "count") -> str:
    if value is None:
        return ""
    if unit == "bytes":
        return str(filesizeformat(int(value)))  # it takes int() of its argument anyway
    if unit == "cny":
        return f"¥{Decimal(value):,.4f}".rstrip("0").rstrip(".")
    return f"{int(value):,}"


@register.filter
def percent_of(value: int | None, whole: int | None) -> int:
    """``value`` as a whole percentage of ``whole`` (0 to 100), for the width of a bar."""
    if not value or not whole:
        return 0
    return max(0, min(100, round(value * 100 / whole)))

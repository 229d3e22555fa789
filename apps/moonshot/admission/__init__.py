"""Admission control for every Moonshot call, shared by all processes through Redis.

Usage::

    from apps.moonshot.admission import Priority, get_controller

    with get_controller().slot(cost_tokens=1500, priority=Priority.BACKGROUND) as lease: ...
    async with get_controller().aslot(cost_tokens=1500, on_wait=show_position) as lease: ...

See :mod:`.controller` for the design and failure modes, and docs/benchmarks.md for its cost.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from .base import AdmissionTimeout, DayCounts, Limits, Priority, WaitInfo
from .controller import AdmissionController, Lease, cost_tokens

__all__ = [
    "AdmissionController",
    "AdmissionTimeout",
    "DayCounts",
    "Lease",
    "Limits",
    "Priority",
    "WaitInfo",
    "controller_from_settings",
    "cost_tokens",
    "get_controller",
    "limits_from_settings",
    "reset_controller",
]

_controller: AdmissionController | None = None
_lock = threading.Lock()


def limits_from_settings() -> Limits:
    """The effective limits: ``MOONSHOT_LIMITS`` (the tier with any per-value override)."""
    values = settings.MOONSHOT_LIMITS
    tpd = values.get("tpd")
    return Limits(
        concurrency=_required(values, "concurrency"),
        rpm=_required(values, "rpm"),
        tpm=_required(values, "tpm"),
        tpd=int(tpd) if tpd else None,
    )


def _required(values: dict[str, int | None], key: str) -> int:
    """One limit every tier has; only "tpd" may be None (no daily limit)."""
    value = values[key]
    if value is None:
        raise ImproperlyConfigured(f"MOONSHOT_LIMITS[{key!r}] must be a number, not None.")
    return int(value)


def controller_from_settings() -> AdmissionController:
    return AdmissionController(
        limits_from_settings(),
        redis_url=settings.REDIS_URL,
        namespace=settings.MOONSHOT_ADMISSION_NAMESPACE,
        window_seconds=settings.MOONSHOT_RATE_WINDOW_SECONDS,
        lease_seconds=settings.MOONSHOT_LEASE_SECONDS,
        cooldown_min_seconds=settings.MOONSHOT_COOLDOWN_MIN_SECONDS,
        cooldown_max_seconds=settings.MOONSHOT_COOLDOWN_MAX_SECONDS,
        tpd_reset_utc_offset_hours=settings.MOONSHOT_TPD_RESET_UTC_OFFSET_HOURS,
    )


def get_controller() -> AdmissionController:
    """The process-wide controller, built from settings on first use (fork-safe)."""
    global _controller
    with _lock:
        if _controller is None:
            _controller = controller_from_settings()
        return _controller


def reset_controller() -> None:
    """Forget the process-wide controller; the next ``get_controller`` reads settings again."""
    global _controller
    with _lock:
        if _controller is not None:
            _controller.close()
        _controller = None


def _on_setting_changed(*, setting: str, **_: Any) -> None:
    if setting.startswith("MOONSHOT_") or setting == "REDIS_URL":
        reset_controller()


setting_changed.connect(_on_setting_changed)

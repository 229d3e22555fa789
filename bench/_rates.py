"""Rates under a sliding-window limit, shared by the throughput benchmarks.

A limiter that allows ``per_window`` events in any ``window`` seconds can let the first
``per_window`` events through at once; after that, event ``i`` can start no earlier than
``window`` seconds after event ``i - per_window``. So the sustained rate is best measured by that
lag, averaged over every event after the first window, rather than by count / elapsed time (which
the free first window inflates, and a slow first window deflates).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def sustained_per_minute(times: Sequence[float], per_window: int) -> float | None:
    """Events per minute in steady state: ``per_window * 60 / mean(t[i] - t[i - per_window])``.

    ``times`` in seconds, any origin. None when there are too few events to span a window.
    """
    t = sorted(times)
    if per_window < 1 or len(t) <= per_window:
        return None
    lag = statistics.fmean(t[i] - t[i - per_window] for i in range(per_window, len(t)))
    return per_window * 60.0 / lag if lag > 0 else None


def busiest(times: Sequence[float], span: float = 60.0) -> int:
    """The most events in any half-open interval of ``span`` seconds."""
    t = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(t):
        while at - t[start] >= span:
            start += 1
        most = max(most, end - start + 1)
    return most


def min_makespan(events: int, per_window: int, window: float) -> float:
    """The earliest the last of ``events`` can start after the first, under the limit."""
    if events < 1 or per_window < 1:
        return 0.0
    return math.floor((events - 1) / per_window) * window

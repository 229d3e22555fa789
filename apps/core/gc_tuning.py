"""Garbage-collector settings for the web process, which relays every streamed answer.

Python's cycle collector stops the event loop while it runs, and with CPython's default
thresholds (700, 10, 10) the web process collected about eight times a second under 500 open
streams: 2.7 s of a 65 s load, with a 200 ms full collection four times as the streams opened
(every answer of the process waits through each one). So, at start-up:

- `gc.freeze()` moves what importing Django, the apps and the URLconf created (about 100,000
  objects, never garbage) out of every later collection;
- the youngest generation is collected after 50,000 new objects instead of 700: most of what
  a request allocates is freed by reference counting before then, so far fewer objects are
  ever examined (0.17 s over the same load, in five pauses of about 35 ms).

What this costs: cyclic garbage waits longer to be freed, at most the 50,000 objects of one
young generation (a few MB). Full collections still run, by CPython's own rule (after ten
middle-generation collections, and only once the survivors have grown by a quarter); with
500 streams open one takes about 200 ms on the 2-core test machine (docs/benchmarks.md).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
MIDDLE_THRESHOLD = 10
OLD_THRESHOLD = 10


def tune_for_serving() -> None:
    """Call once, after the application is loaded and before it serves."""
    gc.collect()  # garbage made while loading is freed, not frozen
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)

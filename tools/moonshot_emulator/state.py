"""Everything the emulator remembers: files, the call log, in-flight counts, rate windows and
the prefix cache.

The server runs on its own thread (or process) while tests read this object, so every access goes
through one lock, and the public views (`files`, `calls`) are snapshots: a test iterating over
them can never see the dict change underneath it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tools.moonshot_emulator import limits
from tools.moonshot_emulator.config import EmulatorConfig


@dataclass
class StoredFile:
    id: str
    filename: str
    bytes: int  # size, named as in the FileObject
    purpose: str
    status: str  # "ok" or "error"
    content: str
    created_at: int
    file_type: str = "application/octet-stream"
    error: str = ""  # why extraction failed, when status == "error"

    def as_object(self) -> dict[str, Any]:
        """The FileObject, in the field order of the real capture (reference §2.2)."""
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": self.status,
            "status_details": "",
        }


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    status: int
    at: float  # time.time() when the response started


class _XidCounter:
    """xid-like ids: 4 bytes of time, 5 random bytes, a 3-byte counter, base32hex lowercase.

    Twelve bytes give exactly 20 characters of `[0-9a-v]`, like `co3t989kqq4ua4e78urg`.
    """

    def __init__(self) -> None:
        self._machine = os.urandom(5)
        self._counter = int.from_bytes(os.urandom(3), "big")
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            self._counter = (self._counter + 1) % (1 << 24)
            counter = self._counter
        raw = int(time.time()).to_bytes(4, "big") + self._machine + counter.to_bytes(3, "big")
        return base64.b32hexencode(raw).decode("ascii").rstrip("=").lower()


_new_id = _XidCounter()


def new_file_id() -> str:
    return _new_id.next()


class State:
    """Thread-safe store. `clock` (monotonic seconds) drives the rate windows; tests may swap it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.RLock()
        self._files: dict[str, StoredFile] = {}
        self._calls: list[Call] = []
        self._stream_disconnects = 0
        self._streams_dropped = 0
        self._rate_limited = 0
        self._in_flight = 0
        self._in_flight_limited = 0
        self._max_concurrent = 0
        self._max_files = 0
        self._requests = limits.SlidingWindow(limits.MINUTE)
        self._tokens_minute = limits.SlidingWindow(limits.MINUTE)
        self._tokens_day = limits.SlidingWindow(limits.DAY)
        self._prefixes: set[str] = set()

    # -- reset ---------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget files, calls, counters, windows and the cache; in-flight requests stay
        counted (they are still running)."""
        with self._lock:
            self._files.clear()
            self._max_files = 0
            self._calls.clear()
            self._stream_disconnects = self._streams_dropped = self._rate_limited = 0
            self._max_concurrent = self._in_flight
            self._requests.clear()
            self._tokens_minute.clear()
            self._tokens_day.clear()
            self._prefixes.clear()

    # -- files ---------------------------------------------------------------------------------

    @property
    def files(self) -> dict[str, StoredFile]:
        with self._lock:
            return dict(self._files)

    def get_file(self, file_id: str) -> StoredFile | None:
        with self._lock:
            return self._files.get(file_id)

    def file_totals(self) -> tuple[int, int]:
        """(number of files, total bytes)."""
        with self._lock:
            return len(self._files), sum(f.bytes for f in self._files.values())

    def add_file(self, stored: StoredFile) -> None:
        with self._lock:
            self._files[stored.id] = stored
            self._max_files = max(self._max_files, len(self._files))

    @property
    def max_files_seen(self) -> int:
        """The most files stored at any one moment since the last reset (quota race tests)."""
        with self._lock:
            return self._max_files

    def delete_file(self, file_id: str) -> bool:
        with self._lock:
            return self._files.pop(file_id, None) is not None

    # -- call log ------------------------------------------------------------------------------

    def record_call(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self._calls.append(Call(method, path, status, time.time()))
            if status == 429:
                self._rate_limited += 1

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def count(
        self,
        method: str | None = None,
        path: str | None = None,
        *,
        path_prefix: str | None = None,
        status: int | None = None,
    ) -> int:
        """Calls matching every given filter; `path` is exact, `path_prefix` a prefix."""
        with self._lock:
            return sum(
                1
                for c in self._calls
                if (method is None or c.method == method.upper())
                and (path is None or c.path == path)
                and (path_prefix is None or c.path.startswith(path_prefix))
                and (status is None or c.status == status)
            )

    @property
    def rate_limited_count(self) -> int:
        with self._lock:
            return self._rate_limited

    # -- streams -------------------------------------------------------------------------------

    def note_stream_disconnect(self) -> None:
        with self._lock:
            self._stream_disconnects += 1

    def note_stream_dropped(self) -> None:
        with self._lock:
            self._streams_dropped += 1

    @property
    def stream_disconnects(self) -> int:
        with self._lock:
            return self._stream_disconnects

    @property
    def streams_dropped(self) -> int:
        with self._lock:
            return self._streams_dropped

    # -- admission: concurrency and RPM --------------------------------------------------------

    def admit(self, config: EmulatorConfig, limited: bool) -> str | None:
        """Take an in-flight slot. Returns the 429 message when concurrency or RPM refuses."""
        with self._lock:
            if limited:
                now = self.clock()
                if config.concurrency is not None and self._in_flight_limited >= config.concurrency:
                    return limits.concurrency_message(
                        config.org_id, config.ak_id, config.concurrency
                    )
                if config.rpm is not None and self._requests.count(now) >= config.rpm:
                    return limits.rpm_message(config.org_id, config.ak_id, config.rpm)
                self._requests.add(now)
                self._in_flight_limited += 1
            self._in_flight += 1
            self._max_concurrent = max(self._max_concurrent, self._in_flight)
            return None

    def release(self, limited: bool) -> None:
        with self._lock:
            self._in_flight -= 1
            if limited:
                self._in_flight_limited -= 1

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    @property
    def max_concurrent_seen(self) -> int:
        with self._lock:
            return self._max_concurrent

    # -- admission: tokens ---------------------------------------------------------------------

    def charge_tokens(self, config: EmulatorConfig, cost: int) -> str | None:
        """Charge prompt + max_tokens to TPM and TPD, or return the 429 message."""
        with self._lock:
            now = self.clock()
            minute = self._tokens_minute.total(now) + cost
            day = self._tokens_day.total(now) + cost
            if config.tpm is not None and minute > config.tpm:
                return limits.tpm_message(config.org_id, config.ak_id, minute, config.tpm)
            if config.tpd is not None and day > config.tpd:
                return limits.tpd_message(config.org_id, config.ak_id, day, config.tpd)
            self._tokens_minute.add(now, cost)
            self._tokens_day.add(now, cost)
            return None

    def window_usage(self) -> dict[str, int]:
        with self._lock:
            now = self.clock()
            return {
                "requests_last_minute": self._requests.count(now),
                "tokens_last_minute": self._tokens_minute.total(now),
                "tokens_last_day": self._tokens_day.total(now),
            }

    # -- prefix cache --------------------------------------------------------------------------

    def cached_prefix_length(self, model: str, messages: Iterable[Mapping[str, Any]]) -> int:
        """How many leading whole messages equal a prefix some earlier request sent; remember
        this request's prefixes for the next one."""
        hashes = _prefix_hashes(model, messages)
        with self._lock:
            cached = 0
            for i, digest in enumerate(hashes, start=1):
                if digest in self._prefixes:
                    cached = i
            self._prefixes.update(hashes)
            return cached

    # -- the control plane's view --------------------------------------------------------------

    def snapshot(self, recent_calls: int = 200) -> dict[str, Any]:
        with self._lock:
            by_route: dict[str, dict[str, int]] = {}
            for c in self._calls:
                per_status = by_route.setdefault(f"{c.method} {c.path}", {})
                per_status[str(c.status)] = per_status.get(str(c.status), 0) + 1
            return {
                "files": [
                    {**f.as_object(), "file_type": f.file_type, "content_chars": len(f.content)}
                    for f in self._files.values()
                ],
                "call_count": len(self._calls),
                "calls_by_route": by_route,
                "recent_calls": [
                    {"method": c.method, "path": c.path, "status": c.status, "at": c.at}
                    for c in self._calls[-recent_calls:]
                ],
                "stream_disconnects": self._stream_disconnects,
                "streams_dropped": self._streams_dropped,
                "rate_limited_count": self._rate_limited,
                "in_flight": self._in_flight,
                "max_concurrent_seen": self._max_concurrent,
                "max_files_seen": self._max_files,
                **self.window_usage(),
            }


def _prefix_hashes(model: str, messages: Iterable[Mapping[str, Any]]) -> list[str]:
    digest = hashlib.sha256(model.encode())
    out = []
    for message in messages:
        digest.update(json.dumps(message, sort_keys=True, ensure_ascii=False).encode())
        out.append(digest.copy().hexdigest())
    return out

"""Per-process helper threads: wake queued callers when a slot frees, and renew held leases.

Both are daemon threads started on first use and stopped after a quiet spell, so a process that
never waits or holds a slot never runs them. What can fail: a Redis outage stops wake-ups (queued
callers still retry on their capped sleep) and renewals (a lease may then expire while held;
the renew script re-takes the slot when one is free and marks the lease ``lost`` otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

import redis

log = logging.getLogger(__name__)
_IDLE_EXIT_SECONDS = 30.0


class Waker(Protocol):
    def fire(self) -> None: ...


class Renewable(Protocol):
    lost: bool


class SyncWaker:
    """Wakes a thread that sleeps in :meth:`wait`."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def fire(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def wait(self, timeout: float) -> None:
        self._event.wait(timeout)


class AsyncWaker:
    """Wakes a coroutine that sleeps in :meth:`wait`; fired from the listener thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._event = asyncio.Event()

    def fire(self) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: its waiter is gone
            self._loop.call_soon_threadsafe(self._event.set)

    def clear(self) -> None:
        self._event.clear()

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)


class Notifier:
    """One pub/sub subscription per process: every message on ``channel`` fires every waker."""

    def __init__(self, redis_url: str, channel: str) -> None:
        self._url = redis_url
        self._channel = channel
        self._wakers: set[Waker] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def register(self, waker: Waker) -> None:
        with self._lock:
            self._wakers.add(waker)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="admission-notifier", daemon=True
                )
                self._thread.start()

    def unregister(self, waker: Waker) -> None:
        with self._lock:
            self._wakers.discard(waker)

    def close(self) -> None:
        self._stop.set()

    def _fire_all(self) -> None:
        with self._lock:
            wakers = list(self._wakers)
        for waker in wakers:
            waker.fire()

    def _run(self) -> None:
        idle = 0.0
        while not self._stop.is_set():
            pubsub = None
            try:
                client = redis.Redis.from_url(self._url)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self._channel)
                self._fire_all()  # anything published before the subscription is not lost
                while not self._stop.is_set():
                    if pubsub.get_message(timeout=1.0) is not None:
                        self._fire_all()
                    with self._lock:
                        idle = 0.0 if self._wakers else idle + 1.0
                        if idle >= _IDLE_EXIT_SECONDS:
                            self._thread = None
                            return
            except (redis.RedisError, OSError) as exc:
                log.warning("admission notifier: %s; retrying in 1 s", exc)
                self._stop.wait(1.0)
            finally:
                if pubsub is not None:
                    pubsub.close()


class Renewer:
    """Renews every sync lease this process holds, in one script call every ``interval`` s."""

    def __init__(self, renew: Callable[[Sequence[str]], list[int]], interval: float) -> None:
        self._renew = renew
        self._interval = interval
        self._leases: dict[str, Renewable] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def add(self, holder: str, lease: Renewable) -> None:
        with self._lock:
            self._leases[holder] = lease
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="admission-renewer", daemon=True
                )
                self._thread.start()

    def discard(self, holder: str) -> None:
        with self._lock:
            self._leases.pop(holder, None)

    def close(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        idle = 0.0
        while not self._stop.wait(self._interval):
            with self._lock:
                held = dict(self._leases)
                idle = 0.0 if held else idle + self._interval
                if idle >= max(_IDLE_EXIT_SECONDS, 2 * self._interval):
                    self._thread = None
                    return
            if not held:
                continue
            try:
                statuses = self._renew(list(held))
            except (redis.RedisError, OSError) as exc:
                log.warning("admission lease renewal failed: %s", exc)
                continue
            for (holder, lease), status in zip(held.items(), statuses, strict=False):
                if status == 0:
                    lease.lost = True
                    log.warning("admission lease %s expired while held; not re-taken", holder)

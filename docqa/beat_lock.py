"""Exactly one Celery beat: a beat holds a lock in Redis while it schedules.

Beat enqueues the periodic sweeps; two beats (a second `celery beat` started by mistake, a
replicated service) would enqueue each of them twice. So when a beat starts (Celery's
`beat_init` signal, before its first tick) it takes `docqa:beat-lock` in Redis, and renews it
every third of `DOCQA_BEAT_LOCK_SECONDS`. A second beat finds the lock held, says so in its log
and waits, scheduling nothing, until the first is gone: at once after a clean stop (the lock is
given back at exit), after `DOCQA_BEAT_LOCK_SECONDS` when the first was killed. It is a
standby, never a twin.

What can fail: with Redis unreachable the start waits and retries (beat needs Redis as its
broker anyway) and a renewal is retried at the next turn. A beat that finds its lock taken by
another (it was paused longer than the lock lives) logs it and stops itself with SIGTERM, so
its supervisor starts it again as a standby.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import socket
import threading
import time
import uuid
from typing import Any

import redis
from django.conf import settings

logger = logging.getLogger(__name__)
LOCK_KEY = "docqa:beat-lock"
_RETRY_SECONDS = 1.0
# Extend the lock only while it is still ours; take it again if it lapsed and nobody took it.
_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if not holder then return redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) and 1 end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class BeatLock:
    """The lock of one beat process: `acquire` blocks until it holds it, then renews it on a
    daemon thread; `release` gives it back if still held."""

    def __init__(self, client: redis.Redis, seconds: int) -> None:
        self.client = client
        self.seconds = max(3, seconds)
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stopped = threading.Event()

    def _try(self) -> bool:
        try:
            return bool(self.client.set(LOCK_KEY, self.token, nx=True, ex=self.seconds))
        except redis.RedisError:
            logger.warning("Redis unreachable while taking the beat lock; retrying")
            return False

    def acquire(self) -> None:
        if not self._try():
            holder = self._holder()
            logger.warning(
                "Another Celery beat (%s) holds the beat lock: this one schedules nothing and "
                "waits until that one stops. Run exactly one beat.",
                holder,
            )
            while not self._try():
                time.sleep(_RETRY_SECONDS)
            logger.warning("The other beat is gone: this beat (%s) took over.", self.token)
        logger.info("This beat (%s) holds the beat lock and schedules.", self.token)
        threading.Thread(target=self._renew_loop, name="beat-lock", daemon=True).start()

    def _holder(self) -> str:
        try:
            value = self.client.get(LOCK_KEY)
        except redis.RedisError:
            return "unknown"
        return value.decode() if isinstance(value, bytes) else str(value)

    def _renew_loop(self) -> None:
        while not self._stopped.wait(self.seconds / 3):
            try:
                held = self.client.eval(_RENEW, 1, LOCK_KEY, self.token, self.seconds)
            except redis.RedisError:
                logger.warning("Redis unreachable while renewing the beat lock; retrying")
                continue
            if not held:
                logger.error(
                    "Another beat (%s) took the beat lock from this one (%s); stopping this one.",
                    self._holder(),
                    self.token,
                )
                os.kill(os.getpid(), signal.SIGTERM)
                return

    def release(self) -> None:
        self._stopped.set()
        with contextlib.suppress(redis.RedisError):  # else it lapses after `seconds`
            self.client.eval(_RELEASE, 1, LOCK_KEY, self.token)


def hold_beat_lock(**_signal: Any) -> None:
    """`beat_init` receiver: hold the lock for the life of this beat process."""
    lock = BeatLock(redis.Redis.from_url(settings.REDIS_URL), settings.DOCQA_BEAT_LOCK_SECONDS)
    lock.acquire()
    atexit.register(lock.release)

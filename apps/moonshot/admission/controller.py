"""The admission controller: one Redis-backed gate in front of every provider call.

Why: the provider's limits (concurrency, RPM, TPM, TPD) belong to the account and are shared by
every web and worker process, and a 429 on Tier0 (RPM 3) can waste the whole minute. So each call
first takes a slot here: a concurrency lease that expires unless renewed (a SIGKILLed process
cannot leak it), an entry in an exact 61 s sliding-window log (never more than RPM admissions, or
TPM tokens, in any window), and a share of the day's token budget. Each decision is one Lua
script on Redis server time (anchors §B2–B5).

What can fail: ``AdmissionRefused`` when the request can never fit (cost above TPM or TPD, or the
day's budget is spent), ``AdmissionTimeout`` when ``timeout`` passes while queued, and
``redis.RedisError`` when Redis is unreachable (nothing is called at the provider then).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import random
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import redis
import redis.asyncio

from . import lua
from .base import AdmissionTimeout, DayCounts, Limits, Priority, WaitInfo, refusal
from .wake import AsyncWaker, Notifier, Renewer, SyncWaker

log = logging.getLogger(__name__)

KEY_NAMES = (
    "sem",
    "log",
    "cost",
    "tpm",
    "tpd",
    "cool",
    "chatq",
    "bgq",
    "wexp",
    "stats",
    "streak",
)
_MIN_SLEEP = 0.01
_JITTER = 0.02
# Reasons a release (PUBLISH) can end; the others end at a known time.
_WAKEABLE = frozenset({"concurrency", "priority", "queue"})
_DAY_MS = 86_400_000
_EPOCH = date(1970, 1, 1)
ASYNC_POOL_CONNECTIONS = 50
ASYNC_POOL_TIMEOUT_SECONDS = 20.0
# Redis down or hung: a call fails within seconds (the caller answers "busy or restarting")
# instead of waiting for the operating system's TCP timeout. Every script returns at once.
SOCKET_TIMEOUTS = {"socket_connect_timeout": 2.0, "socket_timeout": 5.0}

OnWait = Callable[[WaitInfo], Any]


@dataclass
class Lease:
    """A held admission. ``lost`` turns True if the lease expired while held (process stalled
    longer than the lease) and the slot had been taken by someone else meanwhile."""

    holder: str
    cost_tokens: int
    priority: Priority
    queued_seconds: float
    lost: bool = False
    acquired_at: float = field(default_factory=time.monotonic)
    admitted_ms: int = 0  # Redis time of the admission: a success after a 429 run ends the run


@dataclass
class _Attempt:
    """The client side of one queued caller: its deadline and what it last told ``on_wait``."""

    cost: int
    deadline: float | None
    last: WaitInfo | None = None
    queued: bool = False


class AdmissionController:
    """Admits provider calls across processes. Build one per process (see ``get_controller``)."""

    def __init__(
        self,
        limits: Limits,
        *,
        redis_url: str,
        namespace: str = "ms",
        window_seconds: float = 61.0,
        lease_seconds: float = 90.0,
        cooldown_min_seconds: float = 3.0,
        cooldown_max_seconds: float = 60.0,
        waiter_ttl_seconds: float = 10.0,
        max_sleep_seconds: float = 2.0,
        tpd_reset_utc_offset_hours: float = 8.0,
    ) -> None:
        if window_seconds <= 0 or lease_seconds <= 0:
            raise ValueError("window_seconds and lease_seconds must be positive")
        if waiter_ttl_seconds <= max_sleep_seconds:
            raise ValueError("waiter_ttl_seconds must exceed max_sleep_seconds")
        self.limits = limits
        self.namespace = namespace
        self.window_seconds = window_seconds
        self.lease_seconds = lease_seconds
        self.cooldown_min_seconds = cooldown_min_seconds
        self.cooldown_max_seconds = cooldown_max_seconds
        self.max_sleep_seconds = max_sleep_seconds
        self._redis_url = redis_url
        self._keys = [f"{{{namespace}}}:{name}" for name in KEY_NAMES]
        self._channel = f"{{{namespace}}}:wake"
        self._window_ms = round(window_seconds * 1000)
        self._lease_ms = round(lease_seconds * 1000)
        self._waiter_ttl_ms = round(waiter_ttl_seconds * 1000)
        self._day_offset_ms = round(tpd_reset_utc_offset_hours * 3_600_000)
        self._setup_process()

    # -- per-process state (recreated after fork) ----------------------------------------------
    def _setup_process(self) -> None:
        self._pid = os.getpid()
        self._client = redis.Redis.from_url(
            self._redis_url, decode_responses=True, **SOCKET_TIMEOUTS
        )
        self._scripts = {
            name: self._client.register_script(getattr(lua, name.upper()))
            for name in ("acquire", "release", "renew", "cooldown", "record_429", "stats")
        }
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = (
            weakref.WeakKeyDictionary()
        )
        self._notifier = Notifier(self._redis_url, self._channel)
        self._renewer = Renewer(self._renew_sync, self.lease_seconds / 3)

    def _process_scripts(self) -> dict[str, Any]:
        if os.getpid() != self._pid:
            self._setup_process()
        return self._scripts

    def _loop_scripts(self) -> dict[str, Any]:
        self._process_scripts()
        loop = asyncio.get_running_loop()
        scripts = self._async.get(loop)
        if scripts is None:
            # Hundreds of answers may stream in one event loop, each taking and giving back its
            # slot: a bounded pool where a burst waits its turn instead of failing (redis-py's
            # default pool raises past 100 connections).
            pool = redis.asyncio.BlockingConnectionPool.from_url(
                self._redis_url,
                decode_responses=True,
                max_connections=ASYNC_POOL_CONNECTIONS,
                timeout=ASYNC_POOL_TIMEOUT_SECONDS,
                **SOCKET_TIMEOUTS,
            )
            client = redis.asyncio.Redis.from_pool(pool)  # closing the client closes the pool
            scripts = {
                name: client.register_script(getattr(lua, name.upper()))
                for name in ("acquire", "release", "renew", "cooldown", "record_429", "stats")
            }
            scripts["client"] = client
            self._async[loop] = scripts
        return scripts

    def close(self) -> None:
        """Stop this process's helper threads and drop its connections."""
        self._notifier.close()
        self._renewer.close()
        self._client.close()

    async def aclose(self) -> None:
        """Close the current event loop's Redis connections (tests; loop shutdown)."""
        scripts = self._async.pop(asyncio.get_running_loop(), None)
        if scripts is not None:
            await scripts["client"].aclose()

    # -- script arguments ------------------------------------------------------------------------
    def _acquire_args(self, holder: str, cost: int, priority: Priority) -> list[Any]:
        lim = self.limits
        return [
            holder,
            cost,
            int(priority != Priority.INTERACTIVE),  # API work queues like background work
            self._lease_ms,
            self._window_ms,
            lim.concurrency,
            lim.rpm,
            lim.tpm,
            lim.tpd or 0,
            self._day_offset_ms,
            self._waiter_ttl_ms,
            lim.chat_reserve,
            self._channel,
        ]

    def _release_keys(self) -> list[str]:
        return [self._keys[0], self._keys[6], self._keys[7], self._keys[8], self._keys[10]]

    def _cooldown_call(self, seconds: float, reason: str) -> tuple[list[str], list[Any]]:
        keys = [self._keys[5], self._keys[4], self._keys[10]]
        args = [
            round(max(seconds, 0.0) * 1000),
            round(self.cooldown_min_seconds * 1000),
            round(self.cooldown_max_seconds * 1000),
            reason,
            self._window_ms,
            self._day_offset_ms,
        ]
        return keys, args

    # -- the decision shared by the sync and async loops ---------------------------------------
    def _decide(self, result: Sequence[Any], attempt: _Attempt) -> tuple[WaitInfo, float] | None:
        """None when admitted; else what to tell the caller and how long to sleep."""
        status, sleep_ms, reason = int(result[0]), int(result[1]), str(result[2])
        if status == 1:
            return None
        if status == -1:
            raise refusal(reason, attempt.cost, self.limits, sleep_ms)
        attempt.queued = True
        eta_ms = int(result[4])
        info = WaitInfo(int(result[3]), eta_ms / 1000 if eta_ms >= 0 else None, reason)
        delay = self.max_sleep_seconds if sleep_ms < 0 else sleep_ms / 1000
        delay = min(max(delay, _MIN_SLEEP), self.max_sleep_seconds)
        delay += random.uniform(0, _JITTER)  # noqa: S311 - spreads wake-ups, not security
        if attempt.deadline is not None:
            remaining = attempt.deadline - time.monotonic()
            if remaining <= 0:
                raise AdmissionTimeout(
                    f"admission timed out while queued ({reason}, position {info.position})"
                )
            delay = min(delay, remaining)
        return info, delay

    @staticmethod
    def _changed(attempt: _Attempt, info: WaitInfo) -> bool:
        last = attempt.last
        attempt.last = info
        if last is None or (last.position, last.reason) != (info.position, info.reason):
            return True
        if info.eta_seconds is None or last.eta_seconds is None:
            return (last.eta_seconds is None) != (info.eta_seconds is None)
        return abs(info.eta_seconds - last.eta_seconds) > 1

    @staticmethod
    def _check_cost(cost_tokens: int) -> int:
        cost = int(cost_tokens)
        if cost < 0:
            raise ValueError("cost_tokens must not be negative")
        return cost

    # -- sync (Celery tasks, management commands) ------------------------------------------------
    @contextlib.contextmanager
    def slot(
        self,
        cost_tokens: int = 0,
        priority: Priority = Priority.BACKGROUND,
        on_wait: OnWait | None = None,
        timeout: float | None = None,
    ) -> Iterator[Lease]:
        """Hold one admission for the ``with`` body; renewed by a thread, released on exit.

        ``cost_tokens`` is what the provider charges at admission: prompt estimate + max_tokens
        (0 for file calls). ``on_wait(WaitInfo)`` is called while queued. A body that ends
        without an exception counts as a successful call: it ends a run of 429s (``cooldown``),
        so raise the provider's error inside the body.
        """
        lease = self._acquire_sync(self._check_cost(cost_tokens), priority, on_wait, timeout)
        self._renewer.add(lease.holder, lease)
        succeeded = 0
        try:
            yield lease
            succeeded = lease.admitted_ms
        finally:
            self._renewer.discard(lease.holder)
            self._release_sync(lease.holder, succeeded)

    def _acquire_sync(
        self, cost: int, priority: Priority, on_wait: OnWait | None, timeout: float | None
    ) -> Lease:
        scripts = self._process_scripts()
        holder = uuid.uuid4().hex
        started = time.monotonic()
        attempt = _Attempt(cost, None if timeout is None else started + timeout)
        args = self._acquire_args(holder, cost, priority)
        waker: SyncWaker | None = None
        try:
            while True:
                if waker is not None:
                    waker.clear()
                result = scripts["acquire"](keys=self._keys, args=args)
                decision = self._decide(result, attempt)
                if decision is None:
                    admitted_ms = int(result[4])
                    return Lease(
                        holder, cost, priority, time.monotonic() - started, admitted_ms=admitted_ms
                    )
                info, delay = decision
                if on_wait is not None and self._changed(attempt, info):
                    on_wait(info)
                if info.reason in _WAKEABLE:
                    if waker is None:
                        waker = SyncWaker()
                        self._notifier.register(waker)
                    waker.wait(delay)
                else:
                    time.sleep(delay)
        except BaseException:
            if attempt.queued:
                self._release_sync(holder)
            raise
        finally:
            if waker is not None:
                self._notifier.unregister(waker)

    def _release_sync(self, holder: str, succeeded_ms: int = 0) -> None:
        try:
            self._process_scripts()["release"](
                keys=self._release_keys(), args=[holder, self._channel, succeeded_ms]
            )
        except (redis.RedisError, OSError) as exc:  # the lease expires on its own
            log.warning("admission release failed (%s); the lease will expire", exc)

    def _renew_sync(self, holders: Sequence[str]) -> list[int]:
        args = [self._lease_ms, self.limits.concurrency, *holders]
        return [int(s) for s in self._process_scripts()["renew"](keys=self._keys[:1], args=args)]

    # -- async (chat streaming) ------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def aslot(
        self,
        cost_tokens: int = 0,
        priority: Priority = Priority.INTERACTIVE,
        on_wait: OnWait | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[Lease]:
        """Async ``slot``: renewed by a task; released on exit, error or cancellation.

        ``on_wait`` may be a plain function or a coroutine function. As with ``slot``, a body
        that ends without an exception counts as a successful call.
        """
        lease = await self._acquire_async(self._check_cost(cost_tokens), priority, on_wait, timeout)
        renewal = asyncio.create_task(self._renew_async(lease))
        succeeded = 0
        try:
            yield lease
            succeeded = lease.admitted_ms
        finally:
            renewal.cancel()
            await asyncio.shield(self._release_async(lease.holder, succeeded))

    async def _acquire_async(
        self, cost: int, priority: Priority, on_wait: OnWait | None, timeout: float | None
    ) -> Lease:
        scripts = self._loop_scripts()
        holder = uuid.uuid4().hex
        started = time.monotonic()
        attempt = _Attempt(cost, None if timeout is None else started + timeout)
        args = self._acquire_args(holder, cost, priority)
        waker: AsyncWaker | None = None
        try:
            while True:
                if waker is not None:
                    waker.clear()
                result = await scripts["acquire"](keys=self._keys, args=args)
                decision = self._decide(result, attempt)
                if decision is None:
                    admitted_ms = int(result[4])
                    return Lease(
                        holder, cost, priority, time.monotonic() - started, admitted_ms=admitted_ms
                    )
                info, delay = decision
                if on_wait is not None and self._changed(attempt, info):
                    outcome = on_wait(info)
                    if inspect.isawaitable(outcome):
                        await outcome
                if info.reason in _WAKEABLE:
                    if waker is None:
                        waker = AsyncWaker(asyncio.get_running_loop())
                        self._notifier.register(waker)
                    await waker.wait(delay)
                else:
                    await asyncio.sleep(delay)
        except BaseException:
            if attempt.queued:
                await asyncio.shield(self._release_async(holder))
            raise
        finally:
            if waker is not None:
                self._notifier.unregister(waker)

    async def _release_async(self, holder: str, succeeded_ms: int = 0) -> None:
        try:
            await self._loop_scripts()["release"](
                keys=self._release_keys(), args=[holder, self._channel, succeeded_ms]
            )
        except (redis.RedisError, OSError) as exc:
            log.warning("admission release failed (%s); the lease will expire", exc)

    async def _renew_async(self, lease: Lease) -> None:
        script = self._loop_scripts()["renew"]
        args = [self._lease_ms, self.limits.concurrency, lease.holder]
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                status = await script(keys=self._keys[:1], args=args)
            except (redis.RedisError, OSError) as exc:
                log.warning("admission lease renewal failed: %s", exc)
                continue
            if int(status[0]) == 0:
                lease.lost = True
                log.warning("admission lease %s expired while held", lease.holder)

    # -- after a provider 429 ---------------------------------------------------------------------
    def cooldown(self, seconds: float = 0.0, reason: str = "unknown") -> float:
        """Pause every process for what the provider asked (``seconds``, its "try again after N
        seconds" or Retry-After), at least ``cooldown_min_seconds``. Each further 429 of the same
        run (one that follows an elapsed cooldown with no success in between) doubles the pause,
        up to ``cooldown_max_seconds``; a 429 while a cooldown still runs (a call admitted before
        it) does not. ``reason="tpd"`` also closes the day (later requests are refused until the
        reset). Returns the end as a Unix time.

        Why not wait for the request window to drain: a single 429 then stalled every answer for
        up to a minute, though the provider had said one second."""
        keys, args = self._cooldown_call(seconds, reason)
        return int(self._process_scripts()["cooldown"](keys=keys, args=args)) / 1000

    async def acooldown(self, seconds: float = 0.0, reason: str = "unknown") -> float:
        keys, args = self._cooldown_call(seconds, reason)
        return int(await self._loop_scripts()["cooldown"](keys=keys, args=args)) / 1000

    def record_rate_limited(self, dimension: str = "unknown") -> None:
        """Count a provider 429 (by dimension) for today's dashboard figures."""
        self._process_scripts()["record_429"](
            keys=self._keys[9:10], args=[dimension or "unknown", self._day_offset_ms]
        )

    async def arecord_rate_limited(self, dimension: str = "unknown") -> None:
        await self._loop_scripts()["record_429"](
            keys=self._keys[9:10], args=[dimension or "unknown", self._day_offset_ms]
        )

    # -- dashboard ---------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """A snapshot for admins: use of each limit now, queue lengths and today's counters."""
        raw = self._process_scripts()["stats"](
            keys=self._keys, args=[self._window_ms, self._day_offset_ms]
        )
        return self._stats_dict(raw)

    async def astats(self) -> dict[str, Any]:
        raw = await self._loop_scripts()["stats"](
            keys=self._keys, args=[self._window_ms, self._day_offset_ms]
        )
        return self._stats_dict(raw)

    def history(self, days: int = 30) -> list[DayCounts]:
        """Waits and provider 429s per provider day, oldest first, ending today; days without
        events are zeros. Redis keeps ``lua.HISTORY_DAYS`` days, so ``days`` is capped there.

        Raises ``redis.RedisError`` when Redis is unreachable. A Redis without persistence
        forgets the history when it restarts; these are operating figures, not accounts.
        """
        self._process_scripts()
        days = max(1, min(days, lua.HISTORY_DAYS))
        seconds, micros = self._client.time()
        today = (seconds * 1000 + micros // 1000 + self._day_offset_ms) // _DAY_MS
        first = today - days + 1
        waits: dict[int, int] = {}
        limited: dict[int, dict[str, int]] = {}
        for name, value in self._client.hgetall(self._keys[9]).items():
            kind, _sep, rest = str(name).partition(":")
            number, _sep, dimension = rest.partition(":")
            if not number.isdigit() or not first <= int(number) <= today:
                continue
            if kind == "w":
                waits[int(number)] = int(value)
            elif kind == "r" and dimension:
                limited.setdefault(int(number), {})[dimension] = int(value)
        return [
            DayCounts(
                day=_EPOCH + timedelta(days=n),
                waits=waits.get(n, 0),
                rate_limited=dict(sorted(limited.get(n, {}).items())),
            )
            for n in range(first, today + 1)
        ]

    def _stats_dict(self, raw: Sequence[Any]) -> dict[str, Any]:
        limited = raw[10]
        by_dimension = {str(k): int(v) for k, v in zip(limited[::2], limited[1::2], strict=True)}
        cooldown = int(raw[6])
        return {
            "holders": int(raw[1]),
            "rpm_used": int(raw[2]),
            "tpm_used": int(raw[3]),
            "tpd_used": int(raw[4]),
            "tpd_closed": bool(int(raw[5])),
            "limits": {
                **self.limits.as_dict(),
                "window_seconds": self.window_seconds,
                "lease_seconds": self.lease_seconds,
            },
            "cooldown_until": cooldown / 1000 if cooldown else None,
            "waiting_chat": int(raw[7]),
            "waiting_background": int(raw[8]),
            "waits_today": int(raw[9]),
            "rate_limited_today": sum(by_dimension.values()),
            "rate_limited_by_dimension": by_dimension,
            "server_time": int(raw[0]) / 1000,
        }


def cost_tokens(prompt_tokens: int, max_tokens: int) -> int:
    """The admission cost of a chat call: the prompt estimate with 5 % margin plus max_tokens,
    which the provider reserves in full against TPM (anchors §B5)."""
    return -(-prompt_tokens * 105 // 100) + max_tokens

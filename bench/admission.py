"""Admission controller figures.

1. Overhead: acquire + release of one slot with free capacity, N=5000, sync and async, against
   the project-local Redis (Unix socket). A bare Redis PING round trip is printed for scale.
2. Throughput against the provider emulator limited to R requests/min and C concurrent requests,
   with the real 61 s window: many threads call POST /chat/completions inside admission slots for
   about 150 s; prints requests/min achieved as a fraction of R and the number of 429s.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
import uuid
from collections.abc import Callable

import httpx
import redis
from django.conf import settings

from apps.moonshot.admission import AdmissionController, AdmissionTimeout, Limits, Priority

N_OVERHEAD = 5000
EMU_RPM, EMU_CONCURRENCY, EMU_CALLERS, EMU_SECONDS = 30, 3, 12, 150.0


def _controller(limits: Limits, **kw: float) -> AdmissionController:
    return AdmissionController(
        limits, redis_url=settings.REDIS_URL, namespace=f"bench-{uuid.uuid4().hex[:8]}", **kw
    )


def _report(label: str, samples_s: list[float]) -> None:
    ms = sorted(s * 1000 for s in samples_s)
    p99 = ms[min(len(ms) - 1, round(0.99 * len(ms)))]
    print(
        f"{label:<34} n={len(ms)}  mean={statistics.fmean(ms):.3f} ms  "
        f"p50={statistics.median(ms):.3f} ms  p99={p99:.3f} ms",
        flush=True,
    )


def _timed(fn: Callable[[], None], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def overhead() -> None:
    """Part 1: cost of admission when nothing has to wait."""
    free = Limits(concurrency=10_000, rpm=10_000_000, tpm=10**12)
    ctl = _controller(free)
    ping = redis.Redis.from_url(settings.REDIS_URL)
    _report("redis PING round trip", _timed(ping.ping, N_OVERHEAD))

    def one_sync() -> None:
        with ctl.slot(cost_tokens=1500, priority=Priority.BACKGROUND):
            pass

    _timed(one_sync, 200)  # warm-up: scripts loaded, connections open
    _report("sync slot acquire+release", _timed(one_sync, N_OVERHEAD))

    async def run_async() -> list[float]:
        samples = []
        for i in range(N_OVERHEAD + 200):
            started = time.perf_counter()
            async with ctl.aslot(cost_tokens=1500, priority=Priority.INTERACTIVE):
                pass
            if i >= 200:
                samples.append(time.perf_counter() - started)
        await ctl.aclose()
        return samples

    _report("async slot acquire+release", asyncio.run(run_async()))
    ctl.close()


def emulator_throughput() -> None:
    """Part 2: requests/min achieved against a rate-limited emulator, and its 429 count."""
    try:
        from apps.moonshot.emulator import EmulatorConfig, EmulatorServer
    except ImportError:
        print("emulator not available: apps.moonshot.emulator is not importable; skipped")
        return
    limits = Limits(concurrency=EMU_CONCURRENCY, rpm=EMU_RPM, tpm=10**9, reserve_for_chat=0)
    ctl = _controller(limits, window_seconds=61.0)
    sent: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    body = {
        "model": "moonshot-v1-8k",
        "messages": [{"role": "user", "content": "ping"}],
        "max_tokens": 16,
    }
    with EmulatorServer(
        EmulatorConfig(api_key="k", rpm=EMU_RPM, concurrency=EMU_CONCURRENCY)
    ) as emu:
        url = f"{emu.base_url.rstrip('/')}/chat/completions"
        started = time.monotonic()
        stop_at = started + EMU_SECONDS

        def caller() -> None:
            with httpx.Client(headers={"Authorization": "Bearer k"}, timeout=30) as http:
                while (remaining := stop_at - time.monotonic()) > 0:
                    try:
                        with ctl.slot(cost_tokens=100, timeout=remaining):
                            at = time.monotonic()
                            status = http.post(url, json=body).status_code
                    except AdmissionTimeout:
                        return
                    with lock:
                        sent.append(at)
                        statuses[status] = statuses.get(status, 0) + 1
                    if status == 429:
                        ctl.record_rate_limited("unknown")
                        ctl.cooldown(1.0, reason="unknown")

        threads = [threading.Thread(target=caller) for _ in range(EMU_CALLERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        emulator_429 = emu.state.rate_limited_count
    ctl.close()
    sent.sort()
    n = len(sent)
    busiest = max((sum(1 for s in sent[i:] if s - t < 60.0) for i, t in enumerate(sent)), default=0)
    steady = (n - EMU_RPM) / (sent[-1] - sent[0]) * 60 if n > EMU_RPM and sent[-1] > sent[0] else 0
    print(f"emulator R={EMU_RPM}/min C={EMU_CONCURRENCY}, {EMU_CALLERS} threads, {elapsed:.0f} s")
    print(f"requests sent: {n}, statuses: {dict(sorted(statuses.items()))}")
    print(f"429s seen by the emulator: {emulator_429}")
    print(f"busiest 60 s: {busiest} requests ({busiest / EMU_RPM:.2f} of R)")
    print(
        f"steady rate after the first window: {steady:.1f}/min ({steady / EMU_RPM:.2f} of R; "
        f"bound with a 61 s window: {60 / 61:.2f})"
    )


def main() -> None:
    overhead()
    emulator_throughput()

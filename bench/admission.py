"""Admission controller figures.

1. Overhead: acquire + release of one slot with free capacity, N=5000, sync and async, against
   the project-local Redis (Unix socket). A bare Redis PING round trip is printed for scale.
2. Throughput against the provider emulator (``tools.moonshot_emulator``, in this process) limited
   to R requests/min and C concurrent requests, with the real 61 s window: many threads call
   POST /chat/completions inside admission slots for a little over two windows; prints the 429s
   and the sustained requests/min as a fraction of R (ceiling 60/61 with a 61 s window).
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import redis
from django.conf import settings

from apps.moonshot.admission import AdmissionController, AdmissionTimeout, Limits, Priority
from bench._rates import busiest, sustained_per_minute
from bench._stack import forget_namespace
from tools.moonshot_emulator import EmulatorConfig, EmulatorServer

N_OVERHEAD = 5000
# Part 2: batches of R requests start 61 s apart, so 135 s covers three of them (two lags).
EMU_RPM, EMU_CONCURRENCY, EMU_CALLERS, EMU_SECONDS = 60, 3, 16, 135.0
EMU_LATENCY = 0.2  # seconds the emulator takes to answer, so C=3 matters
EMU_KEY = "sk-bench-admission"
WINDOW_SECONDS = 61.0


def _controller(limits: Limits, **kw: float) -> AdmissionController:
    return AdmissionController(
        limits, redis_url=settings.REDIS_URL, namespace=f"bench-{uuid.uuid4().hex[:8]}", **kw
    )


def _forget(ctl: AdmissionController) -> None:
    """Close the controller and delete its Redis keys (its namespace is this run's own)."""
    forget_namespace(ctl.namespace)
    ctl.close()


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


def overhead(n: int = N_OVERHEAD, warmup: int = 200) -> None:
    """Part 1: cost of admission when nothing has to wait."""
    free = Limits(concurrency=10_000, rpm=10_000_000, tpm=10**12)
    ctl = _controller(free)
    ping = redis.Redis.from_url(settings.REDIS_URL)
    _report("redis PING round trip", _timed(ping.ping, n))
    ping.close()

    def one_sync() -> None:
        with ctl.slot(cost_tokens=1500, priority=Priority.BACKGROUND):
            pass

    _timed(one_sync, warmup)  # warm-up: scripts loaded, connections open
    _report("sync slot acquire+release", _timed(one_sync, n))

    async def run_async() -> list[float]:
        samples = []
        for i in range(n + warmup):
            started = time.perf_counter()
            async with ctl.aslot(cost_tokens=1500, priority=Priority.INTERACTIVE):
                pass
            if i >= warmup:
                samples.append(time.perf_counter() - started)
        await ctl.aclose()
        return samples

    _report("async slot acquire+release", asyncio.run(run_async()))
    _forget(ctl)


@dataclass(frozen=True)
class Throughput:
    """What part 2 measured; ``sustained`` is requests/min after the first window (see _rates)."""

    rpm: int
    concurrency: int
    sent: int
    statuses: dict[int, int]
    rate_limited: int
    max_concurrent: int
    busiest_60s: int
    sustained: float | None
    elapsed: float


def emulator_throughput(
    *,
    rpm: int = EMU_RPM,
    concurrency: int = EMU_CONCURRENCY,
    callers: int = EMU_CALLERS,
    seconds: float = EMU_SECONDS,
    latency: float = EMU_LATENCY,
    window: float = WINDOW_SECONDS,
    provider_minute: float = 60.0,
) -> Throughput:
    """Part 2: ``callers`` threads call POST /chat/completions inside admission slots for
    ``seconds``, against an emulator allowing ``rpm`` requests/min and ``concurrency`` at once,
    each answer taking ``latency`` s. Returns (and prints) the rate achieved and the 429s.

    ``provider_minute`` < 60 runs the emulator's clock faster, so its "minute" lasts that many
    real seconds (the smoke test uses a 5 s minute with a 5.1 s admission window)."""
    limits = Limits(concurrency=concurrency, rpm=rpm, tpm=10**9, reserve_for_chat=0)
    ctl = _controller(limits, window_seconds=window)
    sent: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    body = {
        "model": "moonshot-v1-8k",
        "messages": [{"role": "user", "content": "ping"}],
        "max_tokens": 16,
    }
    config = EmulatorConfig(
        api_key=EMU_KEY, rpm=rpm, concurrency=concurrency, first_token_delay=latency
    )
    with EmulatorServer(config) as emu:
        if provider_minute != 60.0:
            speed = 60.0 / provider_minute
            emu.state.clock = lambda: time.monotonic() * speed
        url = f"{emu.base_url}/chat/completions"
        started = time.monotonic()
        stop_at = started + seconds

        def caller() -> None:
            headers = {"Authorization": f"Bearer {EMU_KEY}"}
            with httpx.Client(headers=headers, timeout=30) as http:
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
                    if status == 429:  # what the client does: count it, everyone pauses
                        ctl.record_rate_limited("unknown")
                        ctl.cooldown(1.0, reason="unknown")

        threads = [threading.Thread(target=caller) for _ in range(callers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        result = Throughput(
            rpm=rpm,
            concurrency=concurrency,
            sent=len(sent),
            statuses=dict(sorted(statuses.items())),
            rate_limited=emu.state.rate_limited_count,
            max_concurrent=emu.state.max_concurrent_seen,
            busiest_60s=busiest(sent, 60.0),
            sustained=sustained_per_minute(sent, rpm),
            elapsed=elapsed,
        )
    _forget(ctl)
    print(
        f"emulator R={rpm}/min C={concurrency}, answer latency {latency * 1000:.0f} ms, "
        f"{callers} threads, {window:g} s admission window, {elapsed:.0f} s"
    )
    print(f"requests sent: {result.sent}, statuses: {result.statuses}")
    print(f"429s seen by the emulator: {result.rate_limited}")
    print(f"most requests in flight at the emulator: {result.max_concurrent} (C={concurrency})")
    print(f"busiest 60 s: {result.busiest_60s} requests ({result.busiest_60s / rpm:.3f} of R)")
    if result.sustained is None:
        print("sustained rate: not measured (the run did not outlast one window)")
    else:
        print(
            f"sustained rate after the first window: {result.sustained:.2f}/min "
            f"({result.sustained / rpm:.3f} of R; ceiling with a {window:g} s window: "
            f"{60 / window:.3f})",
            flush=True,
        )
    return result


def main() -> None:
    overhead()
    emulator_throughput()

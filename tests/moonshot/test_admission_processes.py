"""Several real processes share one Redis: limits hold across them, and SIGKILL leaks nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings

from apps.moonshot.admission import AdmissionController, AdmissionTimeout, Limits

from .test_admission import windows_exceeded

BASE_DIR = Path(__file__).resolve().parents[2]


def spawn(*args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "REDIS_URL": settings.REDIS_URL}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.moonshot.admission_worker", *args],
        cwd=BASE_DIR,
        env=env,
        stderr=subprocess.PIPE,
    )


def test_processes_never_exceed_concurrency_or_rpm():
    namespace = f"p-{uuid.uuid4().hex[:8]}"
    concurrency, rpm, window, per_process, processes = 2, 5, 2.0, 4, 4
    started = time.monotonic()
    workers = [
        spawn("loop", namespace, str(concurrency), str(rpm), str(window), str(per_process), "0.3")
        for _ in range(processes)
    ]
    for worker in workers:
        _, stderr = worker.communicate(timeout=60)
        assert worker.returncode == 0, stderr.decode()
    elapsed = time.monotonic() - started
    store = redis.Redis.from_url(settings.REDIS_URL)
    times = [float(t) for t in store.lrange(f"{namespace}:times", 0, -1)]
    overlap = [int(n) for n in store.lrange(f"{namespace}:overlap", 0, -1)]
    assert len(times) == per_process * processes == 16
    assert max(overlap) <= concurrency
    assert max(overlap) == concurrency  # the limit was also reached, not just respected
    assert windows_exceeded(times, window - 0.02, rpm) == []
    # 16 admissions at 5 per 2 s need three full windows; the process start adds about a second.
    assert elapsed < 3 * window + 4


@pytest.mark.timeout(60)
def test_a_sigkilled_holder_gets_its_slot_back_after_the_lease():
    namespace = f"k-{uuid.uuid4().hex[:8]}"
    store = redis.Redis.from_url(settings.REDIS_URL)
    holder = spawn("hold", namespace, "1.0")
    try:
        deadline = time.monotonic() + 20
        while store.get(f"{namespace}:held") is None:
            assert holder.poll() is None, holder.stderr.read().decode()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        ctl = AdmissionController(
            Limits(concurrency=1, rpm=1000, tpm=10**9),
            redis_url=settings.REDIS_URL,
            namespace=namespace,
            lease_seconds=1.0,
            max_sleep_seconds=0.2,
        )
        # The holder's renewals keep its slot well past one lease.
        with pytest.raises(AdmissionTimeout), ctl.slot(timeout=1.5):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    killed = time.monotonic()
    with ctl.slot(timeout=5):
        assert time.monotonic() - killed < 1.5
    ctl.close()

"""A separate process for tests/moonshot/test_admission_processes.py (not a test module).

``python -m tests.moonshot.admission_worker loop NS CONCURRENCY RPM WINDOW N HOLD``: take N slots
one after another; inside each, count current holders in Redis and record the admission time.
``python -m tests.moonshot.admission_worker hold NS LEASE``: take one slot, mark it, sleep forever.
The Redis URL comes from REDIS_URL.
"""

from __future__ import annotations

import os
import sys
import time

import redis

from apps.moonshot.admission import AdmissionController, Limits


def main(argv: list[str]) -> None:
    url = os.environ["REDIS_URL"]
    store = redis.Redis.from_url(url)
    mode, namespace = argv[0], argv[1]
    if mode == "loop":
        concurrency, rpm, window, count, hold = argv[2:7]
        ctl = AdmissionController(
            Limits(concurrency=int(concurrency), rpm=int(rpm), tpm=10**9, reserve_for_chat=0),
            redis_url=url,
            namespace=namespace,
            window_seconds=float(window),
            max_sleep_seconds=0.5,
        )
        for _ in range(int(count)):
            with ctl.slot():
                now = store.incr(f"{namespace}:current")
                store.rpush(f"{namespace}:overlap", now)
                store.rpush(f"{namespace}:times", repr(time.time()))
                time.sleep(float(hold))
                store.decr(f"{namespace}:current")
    elif mode == "hold":
        ctl = AdmissionController(
            Limits(concurrency=1, rpm=1000, tpm=10**9),
            redis_url=url,
            namespace=namespace,
            lease_seconds=float(argv[2]),
        )
        with ctl.slot():
            store.set(f"{namespace}:held", os.getpid())
            time.sleep(3600)


if __name__ == "__main__":
    main(sys.argv[1:])

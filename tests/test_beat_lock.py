"""Exactly one beat, for real: `celery beat` processes against the test Redis. A second beat
started while one runs says so and waits; it takes over when the first is SIGKILLed (once the
lock lapses) and at once when the first stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import redis
from django.conf import settings

from docqa.beat_lock import LOCK_KEY
from docqa.processes import stop_process
from tests.conftest import test_database_url as database_url

BASE_DIR = Path(__file__).resolve().parent.parent
LOCK_SECONDS = 3
Popen = subprocess.Popen[bytes]


def _wait(condition: Callable[[], bool], timeout: float, what: str, log: Path) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what} within {timeout} s; log:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    return time.monotonic() - started


@pytest.fixture
def start_beat(transactional_db, tmp_path) -> Iterator[Callable[[str], tuple[Popen, Path]]]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DOCQA_BEAT_LOCK_SECONDS": str(LOCK_SECONDS),
    }
    redis.Redis.from_url(settings.REDIS_URL).delete(LOCK_KEY)
    with ExitStack() as stack:

        def start(name: str) -> tuple[Popen, Path]:
            log = tmp_path / f"beat-{name}.log"
            out = stack.enter_context(open(log, "wb"))
            command = [sys.executable, "-m", "celery", "-A", "docqa", "beat", "--loglevel"]
            command += ["INFO", "--schedule", str(tmp_path / f"schedule-{name}")]
            proc = subprocess.Popen(
                command,
                cwd=BASE_DIR,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            stack.callback(stop_process, proc)
            return proc, log

        yield start
    redis.Redis.from_url(settings.REDIS_URL).delete(LOCK_KEY)


def _holder() -> str:
    value = redis.Redis.from_url(settings.REDIS_URL).get(LOCK_KEY)
    return value.decode() if value else ""


def test_a_second_beat_waits_and_takes_over_only_when_the_first_is_gone(start_beat):
    first, first_log = start_beat("first")
    _wait(lambda: "holds the beat lock" in first_log.read_text(), 30, "first beat", first_log)
    assert f":{first.pid}:" in _holder()

    second, second_log = start_beat("second")
    _wait(lambda: "Another Celery beat" in second_log.read_text(), 30, "refusal", second_log)
    assert "Run exactly one beat." in second_log.read_text()
    time.sleep(LOCK_SECONDS * 2)  # the first renews its lock: the second keeps waiting
    assert "took over" not in second_log.read_text()
    assert f":{first.pid}:" in _holder()

    # Killed: the second takes over once the first's lock lapses.
    os.killpg(first.pid, signal.SIGKILL)
    waited = _wait(lambda: "took over" in second_log.read_text(), 15, "take-over", second_log)
    assert f":{second.pid}:" in _holder()
    assert waited <= LOCK_SECONDS + 2, waited

    # Stopped cleanly: a third takes over at once (the lock was given back).
    third, third_log = start_beat("third")
    _wait(lambda: "Another Celery beat" in third_log.read_text(), 30, "refusal", third_log)
    second.send_signal(signal.SIGTERM)
    second.wait(timeout=15)
    waited = _wait(lambda: "took over" in third_log.read_text(), 10, "take-over", third_log)
    assert waited < LOCK_SECONDS, waited
    assert f":{third.pid}:" in _holder()

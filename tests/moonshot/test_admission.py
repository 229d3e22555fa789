"""The admission controller against the real test Redis, in one process (threads and asyncio)."""

from __future__ import annotations

import ast
import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta

import pytest
import redis
from django.conf import settings

from apps.moonshot.admission import (
    AdmissionController,
    AdmissionTimeout,
    Limits,
    Priority,
    WaitInfo,
    cost_tokens,
    get_controller,
    limits_from_settings,
)
from apps.moonshot.errors import AdmissionRefused

MakeCtl = Callable[..., AdmissionController]


@pytest.fixture
def make_ctl() -> Iterator[MakeCtl]:
    """Controllers on one fresh namespace (several controllers there act like several processes)."""
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    made: list[AdmissionController] = []

    def make(
        concurrency: int = 10, rpm: int = 1000, tpm: int = 1_000_000, tpd: int | None = None, **kw
    ) -> AdmissionController:
        kw.setdefault("window_seconds", 2.0)
        kw.setdefault("max_sleep_seconds", 0.5)
        kw.setdefault("cooldown_min_seconds", 0.3)
        ctl = AdmissionController(
            Limits(concurrency=concurrency, rpm=rpm, tpm=tpm, tpd=tpd, reserve_for_chat=0),
            redis_url=settings.REDIS_URL,
            namespace=namespace,
            **kw,
        )
        made.append(ctl)
        return ctl

    yield make
    for ctl in made:
        ctl.close()


def windows_exceeded(times: list[float], window: float, limit: int) -> list[float]:
    """Start times of any window of length `window` holding more than `limit` events."""
    times = sorted(times)
    return [
        t for i, t in enumerate(times) if i + limit < len(times) and times[i + limit] - t < window
    ]


def test_free_capacity_admits_at_once_and_release_frees_the_slot(make_ctl):
    ctl = make_ctl()
    with ctl.slot(cost_tokens=500) as lease:
        assert lease.queued_seconds < 0.05
        stats = ctl.stats()
        assert stats["holders"] == 1 and stats["rpm_used"] == 1 and stats["tpm_used"] == 500
    stats = ctl.stats()
    assert stats["holders"] == 0 and stats["rpm_used"] == 1  # a request still counts for RPM
    assert stats["tpd_used"] == 500 and stats["limits"]["rpm"] == 1000


def test_rpm_is_never_exceeded_in_any_window_and_the_quota_is_used(make_ctl):
    ctl = make_ctl(rpm=3, window_seconds=1.0)
    times: list[float] = []
    lock = threading.Lock()

    def caller() -> None:
        for _ in range(2):
            with ctl.slot(), lock:
                times.append(time.monotonic())

    started = time.monotonic()
    threads = [threading.Thread(target=caller) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(times) == 12
    assert windows_exceeded(times, 1.0 - 0.02, 3) == []
    # 12 admissions at 3 per window: the 4th batch starts after 3 windows, not much later.
    assert time.monotonic() - started < 3 * 1.0 + 1.5


def test_tpm_is_token_weighted(make_ctl):
    ctl = make_ctl(tpm=1000)
    with ctl.slot(cost_tokens=600):
        pass
    waits: list[WaitInfo] = []
    with (
        pytest.raises(AdmissionTimeout),
        ctl.slot(cost_tokens=600, on_wait=waits.append, timeout=0.3),
    ):
        pass
    assert waits and waits[0].reason == "tpm" and waits[0].position == 1
    assert 1.0 < waits[0].eta_seconds <= 2.0  # when the first 600 tokens leave the 2 s window
    assert ctl.stats()["waiting_background"] == 0  # the timed-out caller left the queue
    with ctl.slot(cost_tokens=400) as lease:  # still fits next to the first 600
        assert lease.queued_seconds < 0.05
    assert ctl.stats()["tpm_used"] == 1000


def test_queue_is_first_come_first_served(make_ctl):
    ctl = make_ctl(tpm=1000)
    with ctl.slot(cost_tokens=600):
        pass
    acquire = ctl._scripts["acquire"]
    big = ctl._acquire_args("big", 600, Priority.INTERACTIVE)
    assert acquire(keys=ctl._keys, args=big)[2:4] == ["tpm", 1]
    # 100 tokens would fit, but the earlier caller goes first; the later one sleeps until woken.
    small = ctl._acquire_args("small", 100, Priority.INTERACTIVE)
    assert acquire(keys=ctl._keys, args=small)[:4] == [0, -1, "queue", 2]
    ctl._release_sync("big")
    assert acquire(keys=ctl._keys, args=small)[0] == 1


def test_cost_above_tpm_is_refused_up_front(make_ctl):
    ctl = make_ctl(tpm=1000)
    started = time.monotonic()
    with pytest.raises(AdmissionRefused) as caught, ctl.slot(cost_tokens=1001):
        pass
    assert time.monotonic() - started < 0.1
    assert "exceeds TPM limit 1000" in caught.value.admin_message
    assert "per minute" in caught.value.user_message
    assert not isinstance(caught.value, AdmissionTimeout)
    assert ctl.stats()["waiting_background"] == 0 and ctl.stats()["rpm_used"] == 0


def test_daily_budget_refuses_when_spent(make_ctl):
    ctl = make_ctl(tpd=1000)
    with ctl.slot(cost_tokens=700):
        pass
    with pytest.raises(AdmissionRefused) as caught, ctl.slot(cost_tokens=400):
        pass
    assert "daily token budget" in caught.value.admin_message
    assert 0 < caught.value.retry_after <= 86_400
    assert "used up" in caught.value.user_message
    with pytest.raises(AdmissionRefused, match="exceeds TPD"), ctl.slot(cost_tokens=1500):
        pass
    with ctl.slot(cost_tokens=300):  # exactly fills the day
        pass
    assert ctl.stats()["tpd_used"] == 1000


def test_provider_tpd_429_closes_the_day(make_ctl):
    ctl = make_ctl()
    ctl.cooldown(0, reason="tpd")
    with pytest.raises(AdmissionRefused, match="daily token budget"), ctl.slot(cost_tokens=1):
        pass
    assert ctl.stats()["tpd_closed"] is True


def test_cooldown_blocks_every_process(make_ctl):
    first, second = make_ctl(), make_ctl()
    until = first.cooldown(0.8, reason="concurrency")
    assert until == pytest.approx(time.time() + 0.8, abs=0.2)
    waits: list[WaitInfo] = []
    started = time.monotonic()
    with second.slot(on_wait=waits.append):
        elapsed = time.monotonic() - started
    assert 0.7 <= elapsed < 1.3
    assert waits[0].reason == "cooldown" and waits[0].eta_seconds == pytest.approx(0.8, abs=0.2)


def test_cooldown_has_a_minimum_and_follows_what_the_provider_asked(make_ctl):
    ctl = make_ctl(window_seconds=60.0)
    until = ctl.cooldown(0, reason="concurrency")
    assert until - time.time() == pytest.approx(0.3, abs=0.15)  # cooldown_min_seconds
    with ctl.slot():
        pass
    # An RPM 429 saying "try again after 1 seconds": one second, not until the one logged
    # admission leaves the 60 s window (that stalled every answer for up to a minute).
    until = ctl.cooldown(1.0, reason="rpm")
    assert until - time.time() == pytest.approx(1.0, abs=0.15)
    assert ctl.stats()["cooldown_until"] == pytest.approx(until, abs=0.01)
    started = time.monotonic()
    with ctl.slot():
        assert 0.8 <= time.monotonic() - started < 1.5


def _wait_out(ctl: AdmissionController, until: float) -> None:
    time.sleep(max(0.0, until - time.time()) + 0.02)


def test_repeated_429s_escalate_and_a_success_ends_the_run(make_ctl):
    ctl = make_ctl(window_seconds=60.0, cooldown_min_seconds=0.1, cooldown_max_seconds=1.0)
    pauses = []
    for _ in range(4):  # each 429 answers the first call after the previous pause
        until = ctl.cooldown(0.2, reason="rpm")
        pauses.append(until - time.time())
        _wait_out(ctl, until)
    assert pauses == pytest.approx([0.2, 0.4, 0.8, 1.0], abs=0.08)  # doubled, capped
    # 429s of calls admitted before the pause began are the same episode: no escalation.
    first = ctl.cooldown(0.2, reason="rpm")  # the run goes on: 1.0 (capped)
    again = ctl.cooldown(0.2, reason="rpm")
    assert again == pytest.approx(first, abs=0.02)
    _wait_out(ctl, again)
    with ctl.slot():  # a call admitted after the run began succeeds: the run ends
        pass
    assert ctl.cooldown(0.2, reason="rpm") - time.time() == pytest.approx(0.2, abs=0.08)


def test_a_success_admitted_before_the_429_does_not_end_the_run(make_ctl):
    ctl = make_ctl(window_seconds=60.0, cooldown_min_seconds=0.1, cooldown_max_seconds=5.0)
    with ctl.slot():  # a long call, admitted before the 429
        _wait_out(ctl, ctl.cooldown(0.2, reason="rpm"))
    with pytest.raises(RuntimeError), ctl.slot():  # admitted after it, failed: no success
        raise RuntimeError("429 again")
    assert ctl.cooldown(0.2, reason="rpm") - time.time() == pytest.approx(0.4, abs=0.08)


def test_the_provider_may_ask_for_more_than_the_cap(make_ctl):
    ctl = make_ctl(cooldown_min_seconds=0.1, cooldown_max_seconds=0.5)
    assert ctl.cooldown(1.5, reason="rpm") - time.time() == pytest.approx(1.5, abs=0.1)


def test_async_slot_success_ends_the_run_too(make_ctl):
    ctl = make_ctl(window_seconds=60.0, cooldown_min_seconds=0.1, cooldown_max_seconds=5.0)

    async def run() -> list[float]:
        until = await ctl.acooldown(0.2, reason="rpm")
        await asyncio.sleep(max(0.0, until - time.time()) + 0.02)
        pauses = [await ctl.acooldown(0.2, reason="rpm") - time.time()]
        async with ctl.aslot():  # waits the pause out, then succeeds
            pass
        pauses.append(await ctl.acooldown(0.2, reason="rpm") - time.time())
        await ctl.aclose()
        return pauses

    assert asyncio.run(run()) == pytest.approx([0.4, 0.2], abs=0.08)


def test_an_expired_lease_returns_its_slot(make_ctl):
    ctl = make_ctl(concurrency=1, lease_seconds=0.5)
    ctl._acquire_sync(0, Priority.BACKGROUND, None, None)  # held and never renewed or released
    started = time.monotonic()
    with ctl.slot(timeout=3):
        assert 0.3 <= time.monotonic() - started < 1.0


def test_a_held_lease_is_renewed(make_ctl):
    ctl = make_ctl(concurrency=1, lease_seconds=0.6)
    other = make_ctl(concurrency=1, lease_seconds=0.6)
    with ctl.slot() as lease:
        with pytest.raises(AdmissionTimeout), other.slot(timeout=1.5):
            pass
        assert lease.lost is False


def test_a_waiting_chat_caller_goes_before_background(make_ctl):
    ctl = make_ctl(concurrency=1)
    order: list[str] = []
    waits: dict[str, list[WaitInfo]] = {"chat": [], "background": []}

    def caller(name: str, priority: Priority) -> None:
        with ctl.slot(priority=priority, on_wait=waits[name].append):
            order.append(name)

    with ctl.slot():
        background = threading.Thread(target=caller, args=("background", Priority.BACKGROUND))
        background.start()
        time.sleep(0.1)
        chat = threading.Thread(target=caller, args=("chat", Priority.INTERACTIVE))
        chat.start()
        time.sleep(0.1)
        stats = ctl.stats()
        assert stats["waiting_chat"] == 1 and stats["waiting_background"] == 1
        assert stats["waits_today"] == 2
    chat.join(5)
    background.join(5)
    assert order == ["chat", "background"]
    assert waits["chat"][0] == WaitInfo(1, None, "concurrency")
    assert waits["background"][0] == WaitInfo(1, None, "concurrency")


def test_a_killed_chat_waiter_stops_blocking_background_work(make_ctl):
    ctl = make_ctl(concurrency=1, waiter_ttl_seconds=0.8, max_sleep_seconds=0.2)
    holder = ctl._acquire_sync(0, Priority.BACKGROUND, None, None)
    # One acquire attempt as a chat caller that then "dies": queued, never retried nor removed.
    args = ctl._acquire_args("dead-chat-waiter", 0, Priority.INTERACTIVE)
    assert ctl._scripts["acquire"](keys=ctl._keys, args=args)[0] == 0
    ctl._release_sync(holder.holder)
    # A free slot, but a chat caller waits: background is told it is second, behind chat.
    args = ctl._acquire_args("probe", 0, Priority.BACKGROUND)
    assert ctl._scripts["acquire"](keys=ctl._keys, args=args)[2:4] == ["priority", 2]
    ctl._release_sync("probe")
    started = time.monotonic()
    with ctl.slot(priority=Priority.BACKGROUND, timeout=3):
        assert 0.5 < time.monotonic() - started < 1.5
    assert ctl.stats()["waiting_chat"] == 0


def test_release_on_exception(make_ctl):
    ctl = make_ctl(concurrency=1)
    with pytest.raises(ValueError, match="boom"), ctl.slot():
        raise ValueError("boom")
    assert ctl.stats()["holders"] == 0


def test_async_slot_waits_is_woken_on_release_and_releases(make_ctl):
    ctl = make_ctl(concurrency=1, max_sleep_seconds=2.0, waiter_ttl_seconds=10)

    async def scenario() -> tuple[float, list[WaitInfo]]:
        waits: list[WaitInfo] = []

        async def on_wait(info: WaitInfo) -> None:
            waits.append(info)

        released = 0.0

        async def first() -> None:
            nonlocal released
            async with ctl.aslot(cost_tokens=10):
                await asyncio.sleep(0.3)
                released = time.monotonic()

        task = asyncio.create_task(first())
        await asyncio.sleep(0.05)
        async with ctl.aslot(cost_tokens=10, on_wait=on_wait) as lease:
            woke = time.monotonic() - released
            assert lease.queued_seconds > 0.2
        await task
        await ctl.aclose()
        return woke, waits

    woke, waits = asyncio.run(scenario())
    assert woke < 0.2  # the release's PUBLISH woke it, not the 2 s capped sleep
    assert waits == [WaitInfo(1, None, "concurrency")]
    assert ctl.stats()["holders"] == 0


def test_async_release_on_exception_and_cancellation(make_ctl):
    ctl = make_ctl(concurrency=1)

    async def scenario() -> None:
        with pytest.raises(ValueError, match="boom"):
            async with ctl.aslot():
                raise ValueError("boom")
        assert (await ctl.astats())["holders"] == 0

        holding = asyncio.Event()

        async def hold() -> None:
            async with ctl.aslot():
                holding.set()
                await asyncio.sleep(30)

        holder = asyncio.create_task(hold())
        await holding.wait()
        queued = asyncio.create_task(hold())  # waits for the slot
        await asyncio.sleep(0.1)
        assert (await ctl.astats())["waiting_chat"] == 1
        queued.cancel()
        holder.cancel()
        for task in (queued, holder):
            with pytest.raises(asyncio.CancelledError):
                await task
        stats = await ctl.astats()
        assert stats["holders"] == 0 and stats["waiting_chat"] == 0
        await ctl.aclose()

    asyncio.run(scenario())


def test_rate_limited_counts_and_stats(make_ctl):
    ctl = make_ctl()
    ctl.record_rate_limited("rpm")
    ctl.record_rate_limited("rpm")
    ctl.record_rate_limited("concurrency")
    stats = ctl.stats()
    assert stats["rate_limited_today"] == 3
    assert stats["rate_limited_by_dimension"] == {"rpm": 2, "concurrency": 1}
    assert stats["cooldown_until"] is None and stats["waits_today"] == 0


def test_daily_counts_are_kept_for_a_month(make_ctl):
    ctl = make_ctl()
    ctl.record_rate_limited("rpm")
    [today] = ctl.history(days=1)
    assert (today.waits, today.rate_limited, today.rate_limited_total) == (0, {"rpm": 1}, 1)
    # Plant the counters earlier days' scripts would have left: 5 and 40 days ago.
    store = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    key, n = ctl._keys[9], (today.day - date(1970, 1, 1)).days
    store.hset(key, mapping={f"w:{n - 5}": 4, f"r:{n - 5}:tpm": 2, f"w:{n - 40}": 9})
    store.hset(key, f"r:{n - 40}:rpm", 1)
    ctl.record_rate_limited("tpm")  # today's first tpm counter: the sweep runs
    history = ctl.history(days=30)
    assert len(history) == 30 and history[-1].day == today.day
    assert history[-1].rate_limited == {"rpm": 1, "tpm": 1}
    assert (history[-6].day, history[-6].waits, history[-6].rate_limited) == (
        today.day - timedelta(days=5),
        4,
        {"tpm": 2},
    )
    assert not [f for f in store.hkeys(key) if str(n - 40) in f]  # older than a month: gone
    assert 31 * 86_400_000 < store.pttl(key) <= 32 * 86_400_000
    store.close()


def test_cost_helper_adds_five_percent_margin_and_max_tokens():
    assert cost_tokens(1000, 1024) == 1050 + 1024
    assert cost_tokens(1, 0) == 2  # rounded up


def test_invalid_limits_are_rejected():
    with pytest.raises(ValueError, match="rpm"):
        Limits(concurrency=1, rpm=0, tpm=1)
    assert Limits(concurrency=1, rpm=3, tpm=1).chat_reserve == 0
    assert Limits(concurrency=50, rpm=3, tpm=1).chat_reserve == 1


def test_limits_come_from_the_tier_with_overrides(settings):
    assert settings.MOONSHOT_TIERS["tier0"] == {
        "concurrency": 1,
        "rpm": 3,
        "tpm": 500_000,
        "tpd": 1_500_000,
    }
    assert settings.MOONSHOT_TIERS["tier5"]["rpm"] == 10_000
    settings.MOONSHOT_COOLDOWN_MIN_SECONDS = 3.0  # the default (tests/settings.py shortens it)
    settings.MOONSHOT_LIMITS = {"concurrency": 2, "rpm": 7, "tpm": 9_000, "tpd": None}
    assert limits_from_settings() == Limits(concurrency=2, rpm=7, tpm=9_000, tpd=None)
    ctl = get_controller()
    assert ctl is get_controller() and ctl.limits.rpm == 7
    assert ctl.window_seconds == 61.0 and ctl.cooldown_min_seconds == 3.0
    settings.MOONSHOT_LIMITS = {"concurrency": 1, "rpm": 3, "tpm": 500_000, "tpd": 1_500_000}
    assert get_controller() is not ctl  # a settings change builds a new controller


def test_settings_parse_tier_and_overrides():
    code = "from django.conf import settings as s; print(s.MOONSHOT_LIMITS)"
    # The real settings module: tests/settings.py replaces the limits with generous ones.
    env_base = {"DJANGO_SETTINGS_MODULE": "docqa.settings"}

    def run(**env: str) -> subprocess.CompletedProcess[str]:
        full = {**os.environ, **env_base, **env}
        return subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            env=full,
            capture_output=True,
            text=True,
            check=False,
        )

    out = run(MOONSHOT_TIER="Tier1", MOONSHOT_RPM="20", MOONSHOT_TPM="", MOONSHOT_TPD="0")
    assert out.returncode == 0, out.stderr
    assert ast.literal_eval(out.stdout) == {
        "concurrency": 50,
        "rpm": 20,
        "tpm": 2_000_000,
        "tpd": None,
    }
    out = run(MOONSHOT_TIER="tier0", MOONSHOT_TPD="1000", MOONSHOT_CONCURRENCY="")
    assert ast.literal_eval(out.stdout) == {"concurrency": 1, "rpm": 3, "tpm": 500_000, "tpd": 1000}
    assert "unknown" in run(MOONSHOT_TIER="gold").stderr
    assert "whole number" in run(MOONSHOT_RPM="fast").stderr

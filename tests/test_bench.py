"""Smoke test of the benchmarks (`make bench`): each module runs a tiny configuration.

The figures themselves are measured by `make bench` and written into docs/benchmarks.md; here
only the plumbing is checked, with limits so short or so high that the run takes seconds.
"""

from __future__ import annotations

import pytest

from bench import _rates, admission, api, ingestion, streaming


def test_rate_helpers():
    # 3 per 10 s window: bursts of three at 0, 10, 20 s -> 3 per 10 s = 18/min sustained.
    times = [0.0, 0.1, 0.2, 10.0, 10.1, 10.2, 20.0, 20.1, 20.2]
    assert _rates.sustained_per_minute(times, 3) == pytest.approx(18.0)
    assert _rates.sustained_per_minute(times[:3], 3) is None
    assert _rates.busiest(times, 10.0) == 3
    assert _rates.busiest(times, 10.05) == 4
    assert _rates.min_makespan(9, 3, 10.0) == 20.0
    assert _rates.min_makespan(10, 3, 10.0) == 30.0


def test_admission_bench_runs_without_a_429():
    admission.overhead(n=20, warmup=5)
    # A 1 s provider "minute" and a 1.05 s admission window: three windows in 2.5 s.
    result = admission.emulator_throughput(
        rpm=4, concurrency=2, callers=4, seconds=2.5, latency=0.01, window=1.05, provider_minute=1.0
    )
    assert result.rate_limited == 0
    assert result.statuses == {200: result.sent}
    assert result.sent >= 8
    assert result.max_concurrent <= 2
    assert result.sustained is not None


@pytest.mark.celery_worker
def test_ingestion_bench_runs_without_a_429(transactional_db):
    result = ingestion.run(
        docs=4, rpm=3000, worker_concurrency=2, timeout=60, database="docqa_bench_smoke"
    )
    assert (result.ready, result.failed, result.rate_limited) == (4, 0, 0)
    assert result.calls == {
        "POST /v1/files": {"200": 4},
        "GET /v1/files/{id}/content": {"200": 4},
        "DELETE /v1/files/{id}": {"200": 4},
    }


def test_streaming_bench_runs_every_stream_to_completion(transactional_db):
    ttft, loads = streaming.run(
        trials=2,
        context_tokens=4000,
        chunk_delay=0.01,
        loads=[streaming.Load("spread", 6, 0.1, 5), streaming.Load("at once", 6, 0.0, 3)],
        database="docqa_bench_stream_smoke",
    )
    assert ttft.model == "moonshot-v1-8k" and ttft.context_tokens > 3000
    assert len(ttft.app_first_token) == len(ttft.direct_first_token) == 2
    assert all(a > b for a, b in zip(ttft.app_first_token, ttft.app_first_byte, strict=True))
    for load, chunks in zip(loads, (5, 3), strict=True):
        assert (load.complete, load.saved_complete, load.errors) == (6, 6, [])
        assert load.chunks_per_answer == chunks
        # Every chunk of every answer was matched to the moment the emulator sent it.
        assert len(load.app_delay) == len(load.direct_delay) == 6 * chunks
        assert all(d > 0 for d in load.app_delay)
        assert load.rss_peak >= load.rss_before > 0
        assert 1 <= load.most_open <= 6


def test_api_bench_runs_every_path_and_stream_to_completion(transactional_db):
    paths, crowds = api.run(
        trials=2, contexts=[2000], streams=6, chunk_delay=0.01, database="docqa_bench_api_smoke"
    )
    [p] = paths
    assert all(len(p.first_token[leg]) == 2 for leg in api.LEGS)
    assert all(v > 0 for leg in api.LEGS for v in p.first_token[leg])
    assert [(c.route, c.complete, c.errors) for c in crowds] == [("api", 6, []), ("openai", 6, [])]

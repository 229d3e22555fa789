"""Figures of the streaming benchmark: what it measured, how it is summed up, how it prints."""

from __future__ import annotations

import bisect
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench._sse_client import Stream


def percentile(values: Sequence[float], q: int) -> float:
    """The q-th percentile (1–99) by linear interpolation; the value itself for one value."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


@dataclass(frozen=True)
class FirstToken:
    context_tokens: int
    model: str
    trials: int
    app_first_byte: list[float]  # POST until the first byte of DocQA's reply
    app_first_token: list[float]  # POST until DocQA's first delta event
    direct_first_token: list[float]  # the same upstream body, straight to the emulator

    @property
    def added(self) -> list[float]:
        return [a - d for a, d in zip(self.app_first_token, self.direct_first_token, strict=True)]


@dataclass(frozen=True)
class Concurrency:
    streams: int
    chunks_per_answer: int
    complete: int  # answers with the whole text and a done event, no error
    saved_complete: int  # assistant messages saved COMPLETE with usage
    errors: list[str]
    most_open: int  # streams open at once, as the client counted them
    emulator_most_in_flight: int
    rss_before: int
    rss_peak: int
    app_delays: list[tuple[float, float]]  # per chunk (sent at, emulator send -> client read)
    direct_delays: list[tuple[float, float]]  # the same, straight from the emulator
    app_seconds: float  # first POST to last answer complete
    direct_seconds: float
    app_cpu_seconds: float  # the web process's CPU time over app_seconds
    emulator_cpu_seconds: float  # and the emulator's, and this client's, over the same time
    client_cpu_seconds: float
    arrival_seconds: float  # questions were sent evenly over this long (0: all at once)
    open_times: tuple[list[float], list[float]]  # sorted opening and ending times of streams

    def open_at(self, at: float) -> int:
        opened, ended = self.open_times
        return bisect.bisect_right(opened, at) - bisect.bisect_right(ended, at)

    @property
    def all_open_delay(self) -> list[float]:
        """Chunk delays while at least 95 % of the streams were open at once."""
        floor = 0.95 * self.streams
        return [d for at, d in self.app_delays if self.open_at(at) >= floor]

    @property
    def app_delay(self) -> list[float]:
        return [d for _, d in self.app_delays]

    @property
    def direct_delay(self) -> list[float]:
        return [d for _, d in self.direct_delays]

    @property
    def memory_per_stream(self) -> float:
        return (self.rss_peak - self.rss_before) / max(self.most_open, 1)


def open_times(streams: Sequence[Stream]) -> tuple[list[float], list[float]]:
    """When each stream opened (first byte) and ended (last text), both sorted."""
    done = [s for s in streams if s.first_byte is not None and s.tokens]
    return sorted(s.first_byte for s in done if s.first_byte), sorted(s.tokens[-1] for s in done)


def open_at_once(streams: Sequence[Stream]) -> int:
    """The most streams that had their first byte and had not yet finished at one moment."""
    edges = []
    for s in streams:
        if s.first_byte is not None and s.tokens:
            edges += [(s.first_byte, 1), (s.tokens[-1], -1)]
    most = current = 0
    for _, step in sorted(edges):
        current += step
        most = max(most, current)
    return most


def chunk_delays(
    streams: Sequence[Stream], stamps: dict[str, list[float]]
) -> list[tuple[float, float]]:
    """(sent at, delay) of every chunk. For stream i (tag bench-i), content chunk k arrived at
    tokens[k]; the emulator sent it as body frame k + 1 (frame 0 is the role chunk)."""
    delays = []
    for i, stream in enumerate(streams):
        sent = stamps.get(f"bench-{i}", [])[1:]
        delays += [(at, arrived - at) for arrived, at in zip(stream.tokens, sent, strict=False)]
    return delays


def timeline(delays: Sequence[tuple[float, float]], step: float) -> list[tuple[float, int, float]]:
    """(seconds since the first chunk, chunks, p99 delay) for each ``step`` of the run."""
    if not delays:
        return []
    start = min(at for at, _ in delays)
    buckets: dict[int, list[float]] = {}
    for at, delay in delays:
        buckets.setdefault(int((at - start) / step), []).append(delay)
    return [(k * step, len(v), percentile(v, 99)) for k, v in sorted(buckets.items())]


def print_first_token(t: FirstToken, documents: int) -> None:
    print(
        f"1. first token with {t.context_tokens:,} tokens of documents in scope "
        f"({documents} documents, model {t.model}), {t.trials} trials each way:"
    )
    for label, values in (
        ("DocQA: POST -> first byte", t.app_first_byte),
        ("DocQA: POST -> first delta", t.app_first_token),
        ("emulator direct: POST -> first content chunk", t.direct_first_token),
        ("added by DocQA (per trial, paired)", t.added),
    ):
        print(
            f"   {label}: median {ms(statistics.median(values))}, "
            f"p90 {ms(percentile(values, 90))}, min {ms(min(values))}, max {ms(max(values))}",
            flush=True,
        )


def print_load(n: int, label: str, c: Concurrency, chunk_delay: float, chunk_chars: int) -> None:
    print(
        f"{n}. {c.streams} streams through one uvicorn process, {label}; answers of "
        f"{c.chunks_per_answer} chunks of {chunk_chars} characters, one every "
        f"{chunk_delay * 1000:.0f} ms:"
    )
    print(
        f"   complete answers: {c.complete}/{c.streams}, saved complete with usage: "
        f"{c.saved_complete}/{c.streams}, errors: {len(c.errors)}"
    )
    for error in c.errors[:5]:
        print(f"     {error[:300]}")
    print(
        f"   open at once: {c.most_open} (emulator: {c.emulator_most_in_flight} in flight); "
        f"all done in {c.app_seconds:.1f} s (direct: {c.direct_seconds:.1f} s)"
    )
    print(
        f"   web process CPU: {c.app_cpu_seconds:.1f} s in {c.app_seconds:.1f} s "
        f"({c.app_cpu_seconds / c.app_seconds:.0%} of one core); emulator "
        f"{c.emulator_cpu_seconds:.1f} s, this client {c.client_cpu_seconds:.1f} s "
        f"(the machine has {os.cpu_count()} cores)"
    )
    print(
        f"   web process memory: {c.rss_before / 2**20:.0f} MiB before, "
        f"{c.rss_peak / 2**20:.0f} MiB at peak = {c.memory_per_stream / 1024:.0f} KiB per stream"
    )
    for label, values in (
        ("through DocQA", c.app_delay),
        ("through DocQA, while >= 95 % were open", c.all_open_delay),
        ("emulator direct", c.direct_delay),
    ):
        if values:
            print(
                f"   chunk delay {label} ({len(values):,} chunks): "
                f"median {ms(statistics.median(values))}, p99 {ms(percentile(values, 99))}, "
                f"max {ms(max(values))}"
            )
    by_time = ", ".join(f"{t:.0f}s: {ms(p99)}" for t, _, p99 in timeline(c.app_delays, 2.0))
    print(f"   p99 chunk delay through DocQA by when the chunk was sent: {by_time}")
    if c.app_delay and c.direct_delay:
        extra = percentile(c.app_delay, 99) - percentile(c.direct_delay, 99)
        print(f"   extra delay per chunk added by DocQA, p99: {ms(extra)}", flush=True)

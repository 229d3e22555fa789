"""Streaming answers through the real web server (issue 5).

One ``uvicorn docqa.asgi:application`` process (as ``make run`` starts it) relays the provider
emulator's streamed answers to a client that reads them as the browser's ``chat.js`` does: POST
with the session cookie and CSRF header, then the SSE reply. All of it real and on loopback: a
scratch PostgreSQL database, the project-local Redis (admission controller in a namespace of its
own), the emulator as its own process (``bench._stamped_emulator``: the unchanged emulator with
a clock on every chunk it sends), and a small asyncio client (``bench._sse_client``).

1. Time to first token with about 100k tokens of documents in scope: POST a question to
   DocQA and wait for the first ``delta`` event, against replaying the very request body DocQA
   sent upstream straight to the emulator and waiting for its first content chunk. The
   difference is what DocQA adds: session and membership, saving the question, loading and
   assembling ~400 KB of document text, admission, the upstream request, the relay.
2. Many concurrent streams: N answers at once through the one uvicorn process. For every chunk,
   the delay from the emulator handing it to its server to the client reading it (the same
   clock, CLOCK_MONOTONIC); the same N streams straight to the emulator give that delay without
   DocQA in between. Also the web process's memory per open stream, and every answer checked:
   complete text, no error event, saved as complete with its usage.

The database (``docqa_bench_stream``) is created, migrated and dropped; the admission keys are
deleted at the end.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import os
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings

from bench._sse_client import Stream, post_sse
from bench._stack import (
    bench_database,
    cpu_seconds,
    emulator_process,
    emulator_state,
    forget_namespace,
    get_json,
    rss_bytes,
    web_server,
)

DATABASE = "docqa_bench_stream"
API_KEY = "sk-bench-streaming"
# 32 characters: Django accepts it unmasked.
CSRF_TOKEN = "benchcsrftoken0123456789abcdefgh"  # noqa: S105 (not a secret)
CONTEXT_TOKENS = 100_000
CONTEXT_DOCUMENTS = 10
TRIALS = 40
STREAMS = 500
# The provider's pace in parts 2 and 3: an 8-character chunk every 100 ms (about 50 tokens/s
# of Chinese, 20 of English: Kimi's usual range).
CHUNK_DELAY = 0.1
CHUNK_CHARS = 8
ANSWER_CHUNKS = 60
QUESTION = "How often are the pressure relief valves inspected?"
_TAG = re.compile(rb"\[bench-[0-9]+\]")


# --- figures -----------------------------------------------------------------------------------


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


# --- seed data ---------------------------------------------------------------------------------


def _english(doc: int, tokens: int) -> str:
    return _manual(
        f"Station {doc} maintenance manual",
        lambda i: (
            f"Procedure {doc}.{i}: the crew of pumping station {doc} checks seal {i % 17} on "
            f"line {i % 23}, logs a pressure of {(doc * 131 + i * 7) % 900 + 100} kPa and "
            f"replaces gasket type G-{(i * 13) % 97} when its wear exceeds {i % 9 + 1} mm."
        ),
        tokens,
    )


def _chinese(doc: int, tokens: int) -> str:
    return _manual(
        f"第{doc}号泵站维护手册",
        lambda i: (
            f"第{doc}号泵站规程第{i}条：值班人员检查{i % 17}号密封件和{i % 23}号管线，"
            f"记录压力{(doc * 131 + i * 7) % 900 + 100}千帕；磨损超过{i % 9 + 1}毫米时更换"
            f"G-{(i * 13) % 97}型垫片。"
        ),
        tokens,
    )


def _manual(title: str, paragraph: Callable[[int], str], tokens: int) -> str:
    """A title and numbered paragraphs, about ``tokens`` tokens in all."""
    from apps.moonshot.tokens import estimate_tokens

    parts, total = [], 0
    while total < tokens:
        parts.append(paragraph(len(parts)))
        total += estimate_tokens(parts[-1])
    return title + "\n\n" + "\n\n".join(parts)


@dataclass(frozen=True)
class Seed:
    slug: str
    conversations: list[int]
    cookies: str


def _seed(*, name: str, documents: list[tuple[str, str]], conversations: int) -> Seed:
    """A workspace with these documents, extracted by the real upload service and pipeline
    (offline, in this process), ``conversations`` empty conversations, and a logged-in owner."""
    from apps.accounts.services import register_user
    from apps.chat.services import create_conversation
    from apps.documents.models import Status
    from apps.documents.services import ingest_upload
    from apps.workspaces.models import Membership
    from apps.workspaces.services import create_workspace

    user = register_user(email=f"{uuid.uuid4().hex[:12]}@example.com", password=uuid.uuid4().hex)
    workspace = create_workspace(owner=user, name=name)
    actor = Membership.objects.get(workspace=workspace, user=user)
    for filename, text in documents:
        upload = SimpleUploadedFile(filename, text.encode(), "text/plain")
        document = ingest_upload(actor=actor, upload=upload).document
        document.refresh_from_db()
        if document.status != Status.READY:
            raise RuntimeError(f"{filename} did not extract: {document.status}")
    ids = [create_conversation(workspace=workspace, user=user).pk for _ in range(conversations)]
    client = Client()
    client.force_login(user)
    cookies = f"sessionid={client.cookies['sessionid'].value}; csrftoken={CSRF_TOKEN}"
    return Seed(slug=workspace.slug, conversations=ids, cookies=cookies)


@contextmanager
def _offline_extraction() -> Iterator[None]:
    """Extract seed documents in this process with the local extractors: the Celery task runs
    eagerly on commit and the provider is not configured here."""
    from docqa.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    with (
        tempfile.TemporaryDirectory(prefix="docqa-bench-media-") as media,
        override_settings(MOONSHOT_API_KEY="", MEDIA_ROOT=media),
    ):
        storages = {**settings.STORAGES, "default": {**settings.STORAGES["default"]}}
        storages["default"]["OPTIONS"] = {**storages["default"]["OPTIONS"], "location": media}
        try:
            with override_settings(STORAGES=storages):
                yield
        finally:
            app.conf.task_always_eager = eager


# --- the two measurements ----------------------------------------------------------------------


def _ask_body(tag: int) -> bytes:
    return json.dumps({"question": f"[bench-{tag}] {QUESTION}"}).encode()


def _app_headers(seed: Seed) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Cookie": seed.cookies,
        "X-CSRFToken": CSRF_TOKEN,
    }


PROVIDER_HEADERS = {"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"}


async def _ask(port: int, seed: Seed, index: int, tag: int) -> Stream:
    path = f"/w/{seed.slug}/chat/{seed.conversations[index]}/ask/"
    return await post_sse(port, path, _ask_body(tag), _app_headers(seed))


async def _direct(port: int, body: bytes, tag: int) -> Stream:
    body = _TAG.sub(f"[bench-{tag}]".encode(), body, count=1)
    return await post_sse(port, "/v1/chat/completions", body, PROVIDER_HEADERS, provider=True)


def _require(stream: Stream, what: str) -> None:
    if stream.error or stream.first_token is None:
        raise RuntimeError(f"{what} failed: {stream.error or 'no answer text'}")


async def first_token(app_port: int, emulator: str, seed: Seed, trials: int) -> FirstToken:
    """Alternate DocQA and the direct call (DocQA first in even trials), after one warm-up of
    each; every DocQA turn is in a conversation of its own so history stays empty."""
    emulator_port = int(emulator.rsplit(":", 1)[1].split("/")[0])
    warm = await _ask(app_port, seed, 0, 0)
    _require(warm, "warm-up question")
    body = await asyncio.to_thread(_last_body, emulator)
    _require(await _direct(emulator_port, body, 0), "warm-up direct call")
    upstream = json.loads(body)
    app_first_byte, app_first_token, direct_first_token = [], [], []
    for trial in range(1, trials + 1):
        for leg in ("app", "direct") if trial % 2 == 0 else ("direct", "app"):
            if leg == "app":
                stream = await _ask(app_port, seed, trial, trial)
                _require(stream, f"question {trial}")
                assert stream.first_byte is not None and stream.first_token is not None
                app_first_byte.append(stream.first_byte - stream.started)
                app_first_token.append(stream.first_token - stream.started)
            else:
                stream = await _direct(emulator_port, body, trial)
                _require(stream, f"direct call {trial}")
                assert stream.first_token is not None
                direct_first_token.append(stream.first_token - stream.started)
    return FirstToken(
        context_tokens=_context_tokens(upstream),
        model=str(upstream["model"]),
        trials=trials,
        app_first_byte=app_first_byte,
        app_first_token=app_first_token,
        direct_first_token=direct_first_token,
    )


def _last_body(emulator: str) -> bytes:
    import urllib.request

    url = emulator.removesuffix("/v1") + "/_bench/last-body"
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (loopback http)
        return response.read()


def _context_tokens(upstream: dict[str, Any]) -> int:
    from apps.moonshot.tokens import estimate_tokens

    documents = [m for m in upstream["messages"] if m["role"] == "system"][:-1]
    return sum(estimate_tokens(str(m["content"])) for m in documents)


class _MemoryWatch:
    """Samples a process's resident memory every 50 ms while it runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, rss_bytes(self.pid))
            await asyncio.sleep(0.05)

    def __enter__(self) -> _MemoryWatch:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def _open_times(streams: Sequence[Stream]) -> tuple[list[float], list[float]]:
    """When each stream opened (first byte) and ended (last text), both sorted."""
    done = [s for s in streams if s.first_byte is not None and s.tokens]
    return sorted(s.first_byte for s in done if s.first_byte), sorted(s.tokens[-1] for s in done)


def _open_at_once(streams: Sequence[Stream]) -> int:
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


def _chunk_delays(
    streams: Sequence[Stream], stamps: dict[str, list[float]]
) -> list[tuple[float, float]]:
    """(sent at, delay) of every chunk. For stream i (tag bench-i), content chunk k arrived at
    tokens[k]; the emulator sent it as body frame k + 1 (frame 0 is the role chunk)."""
    delays = []
    for i, stream in enumerate(streams):
        sent = stamps.get(f"bench-{i}", [])[1:]
        delays += [(at, arrived - at) for arrived, at in zip(stream.tokens, sent, strict=False)]
    return delays


def _timeline(delays: Sequence[tuple[float, float]], step: float) -> list[tuple[float, int, float]]:
    """(seconds since the first chunk, chunks, p99 delay) for each ``step`` of the run."""
    if not delays:
        return []
    start = min(at for at, _ in delays)
    buckets: dict[int, list[float]] = {}
    for at, delay in delays:
        buckets.setdefault(int((at - start) / step), []).append(delay)
    return [(k * step, len(v), percentile(v, 99)) for k, v in sorted(buckets.items())]


async def concurrency(
    app_port: int,
    pid: int,
    emulator: str,
    seed: Seed,
    streams: int,
    expected: str,
    arrival_seconds: float,
) -> Concurrency:
    """``streams`` questions, the i-th sent at i/streams of ``arrival_seconds`` (0: all at once),
    each answered with ``expected``; then the same straight to the emulator."""
    emulator_port = int(emulator.rsplit(":", 1)[1].split("/")[0])
    control = emulator.removesuffix("/v1")
    # Warm up the worker thread, the connection pools and the code paths, then measure.
    warm = await _ask(app_port, seed, streams, 10**6)
    _require(warm, "warm-up stream")
    body = await asyncio.to_thread(_last_body, emulator)
    await asyncio.to_thread(get_json, control + "/_bench/stamps")
    await asyncio.to_thread(_post, control + "/_emulator/reset", {})
    await asyncio.to_thread(_post, control + "/_emulator/faults", {"answer_override": expected})
    rss_before = rss_bytes(pid)

    started, cpu_before = time.monotonic(), cpu_seconds(pid)
    emulator_cpu, client_cpu = await asyncio.to_thread(_emulator_cpu, control), time.process_time()
    with _MemoryWatch(pid) as memory:
        results = await asyncio.gather(
            *(
                _later(i * arrival_seconds / streams, _ask(app_port, seed, i, i))
                for i in range(streams)
            )
        )
    app_seconds, app_cpu = time.monotonic() - started, cpu_seconds(pid) - cpu_before
    client_cpu = time.process_time() - client_cpu
    emulator_cpu = await asyncio.to_thread(_emulator_cpu, control) - emulator_cpu
    stamps = await asyncio.to_thread(get_json, control + "/_bench/stamps")
    state = await asyncio.to_thread(emulator_state, emulator)
    app_delays = _chunk_delays(results, stamps)

    started = time.monotonic()
    direct = await asyncio.gather(
        *(
            _later(i * arrival_seconds / streams, _direct(emulator_port, body, i))
            for i in range(streams)
        )
    )
    direct_seconds = time.monotonic() - started
    direct_stamps = await asyncio.to_thread(get_json, control + "/_bench/stamps")
    direct_delays = _chunk_delays(direct, direct_stamps)

    errors = [f"stream {i}: {r.error}" for i, r in enumerate(results) if r.error]
    errors += [f"direct {i}: {r.error}" for i, r in enumerate(direct) if r.error]
    complete = sum(
        1 for r in results if not r.error and r.text == expected and r.events.get("done")
    )
    return Concurrency(
        streams=streams,
        chunks_per_answer=len(stamps.get("bench-0", [])) - 3,  # minus role, finish, [DONE]
        complete=complete,
        saved_complete=await asyncio.to_thread(_saved_complete, seed, streams),
        errors=errors,
        most_open=_open_at_once(results),
        emulator_most_in_flight=int(state["max_concurrent_seen"]),
        rss_before=rss_before,
        rss_peak=memory.peak,
        app_delays=app_delays,
        direct_delays=direct_delays,
        app_seconds=app_seconds,
        direct_seconds=direct_seconds,
        app_cpu_seconds=app_cpu,
        emulator_cpu_seconds=emulator_cpu,
        client_cpu_seconds=client_cpu,
        arrival_seconds=arrival_seconds,
        open_times=_open_times(results),
    )


async def _later(delay: float, call: Awaitable[Stream]) -> Stream:
    await asyncio.sleep(delay)
    return await call


def _emulator_cpu(control: str) -> float:
    return float(get_json(control + "/_bench/cpu")["seconds"])


def _post(url: str, payload: dict[str, Any]) -> None:
    import urllib.request

    request = urllib.request.Request(  # noqa: S310 (loopback http)
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30):  # noqa: S310
        pass


def _saved_complete(seed: Seed, streams: int) -> int:
    from apps.chat.models import Message, Role, Status

    return Message.objects.filter(
        conversation_id__in=seed.conversations[:streams],
        role=Role.ASSISTANT,
        status=Status.COMPLETE,
        completion_tokens__gt=0,
        prompt_tokens__gt=0,
    ).count()


# --- the run -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """One way the questions come: spread evenly over ``arrival_seconds`` (0: all at once),
    each answered in ``answer_chunks`` chunks."""

    label: str
    streams: int
    arrival_seconds: float
    answer_chunks: int


# Steady: 500 questions over 10 s, 20 s answers, so all 500 stream at once for about 10 s.
# Burst: 500 questions in the same instant (6 s answers): the worst case for starting them.
# Capacity: the same steady load with 100 streams, what one process keeps up with.
LOADS = (
    Load("arriving over 10 s", STREAMS, 10.0, 200),
    Load("all sent at once", STREAMS, 0.0, ANSWER_CHUNKS),
    Load("arriving over 2 s", 100, 2.0, 100),
)


def _answer(chunks: int) -> str:
    sentences = "".join(f"第{i}段：阀门每月检查一次。" for i in range(chunks))
    return sentences[: chunks * CHUNK_CHARS]


def run(
    *,
    trials: int = TRIALS,
    context_tokens: int = CONTEXT_TOKENS,
    chunk_delay: float = CHUNK_DELAY,
    loads: Sequence[Load] = LOADS,
    database: str = DATABASE,
) -> tuple[FirstToken, list[Concurrency]]:
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    per_doc = context_tokens // CONTEXT_DOCUMENTS
    big = [
        (f"station-{d}.txt", (_english if d % 2 else _chinese)(d, per_doc))
        for d in range(CONTEXT_DOCUMENTS)
    ]
    small = [("station-small.txt", _english(99, 1500))]
    emulator_args = ["--chunk-delay", "0", "--first-token-delay", "0"]
    with (
        bench_database(database) as db_url,
        emulator_process(
            api_key=API_KEY, args=emulator_args, module="bench._stamped_emulator"
        ) as emulator,
    ):
        control = emulator.removesuffix("/v1")
        with _offline_extraction():
            handbook = _seed(name="Handbook", documents=big, conversations=trials + 1)
            teams = [
                _seed(name=f"Team {n}", documents=small, conversations=load.streams + 1)
                for n, load in enumerate(loads)
            ]
        env = {
            "DJANGO_SETTINGS_MODULE": "bench._settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECURE": "0",
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,  # the seeded sessions are signed with it
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_LOG_LEVEL": "WARNING",
            "DATABASE_URL": db_url,
            "DJANGO_DB_POOL_SIZE": "20",  # as `make run` and docker compose start the web server
            "REDIS_URL": settings.REDIS_URL,
            "DOCQA_BENCH_ADMISSION_NAMESPACE": namespace,
            "MOONSHOT_API_KEY": API_KEY,
            "MOONSHOT_BASE_URL": emulator,
            # Limits far above the load, so admission admits and the figures are the relay's.
            "MOONSHOT_RPM": "1000000",
            "MOONSHOT_CONCURRENCY": str(max(load.streams for load in loads) * 2 + 10),
            "MOONSHOT_TPM": "1000000000",
            "MOONSHOT_TPD": "0",
        }
        results = []
        try:
            with web_server(env, log_name="bench-streaming-uvicorn.log") as (url, pid):
                port = int(url.rsplit(":", 1)[1])
                answer = {"answer_override": "Valves are inspected monthly [station-1.txt]."}
                _post(control + "/_emulator/faults", answer)
                ttft = asyncio.run(first_token(port, emulator, handbook, trials))
                _print_first_token(ttft)
                config = {"chunk_delay": chunk_delay, "chunk_chars": CHUNK_CHARS}
                _post(control + "/_emulator/config", config)
                for n, (load, team) in enumerate(zip(loads, teams, strict=True), start=2):
                    expected = _answer(load.answer_chunks)
                    result = asyncio.run(
                        concurrency(
                            port, pid, emulator, team, load.streams, expected, load.arrival_seconds
                        )
                    )
                    _print_load(n, load, result, chunk_delay)
                    results.append(result)
        finally:
            forget_namespace(namespace)
    return ttft, results


def _print_first_token(t: FirstToken) -> None:
    print(
        f"1. first token with {t.context_tokens:,} tokens of documents in scope "
        f"({CONTEXT_DOCUMENTS} documents, model {t.model}), {t.trials} trials each way:"
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


def _print_load(n: int, load: Load, c: Concurrency, chunk_delay: float) -> None:
    print(
        f"{n}. {c.streams} streams through one uvicorn process, {load.label}; answers of "
        f"{c.chunks_per_answer} chunks of {CHUNK_CHARS} characters, one every "
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
    timeline = ", ".join(f"{t:.0f}s: {ms(p99)}" for t, _, p99 in _timeline(c.app_delays, 2.0))
    print(f"   p99 chunk delay through DocQA by when the chunk was sent: {timeline}")
    if c.app_delay and c.direct_delay:
        extra = percentile(c.app_delay, 99) - percentile(c.direct_delay, 99)
        print(f"   extra delay per chunk added by DocQA, p99: {ms(extra)}", flush=True)


def main() -> None:
    run()

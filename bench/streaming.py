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
import json
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings

from bench._sse_client import Stream, post_sse
from bench._stack import (
    bench_database,
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
# The provider's pace in part 2: an 8-character chunk every 100 ms (about 50 tokens/s of
# Chinese, 20 of English: Kimi's usual range), 60 chunks = a 6 s answer.
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
    app_delay: list[float]  # per chunk: emulator sent it -> client read it, through DocQA
    direct_delay: list[float]  # the same, straight from the emulator
    app_seconds: float  # first POST to last answer complete
    direct_seconds: float

    @property
    def memory_per_stream(self) -> float:
        return (self.rss_peak - self.rss_before) / max(self.most_open, 1)


# --- seed data ---------------------------------------------------------------------------------


def _english(doc: int, tokens: int) -> str:
    from apps.moonshot.tokens import estimate_tokens

    parts, total, i = [], 0, 0
    while total < tokens:
        part = (
            f"Procedure {doc}.{i}: the crew of pumping station {doc} checks seal {i % 17} on "
            f"line {i % 23}, logs a pressure of {(doc * 131 + i * 7) % 900 + 100} kPa and "
            f"replaces gasket type G-{(i * 13) % 97} when its wear exceeds {i % 9 + 1} mm."
        )
        parts.append(part)
        total += estimate_tokens(part)
        i += 1
    return f"Station {doc} maintenance manual\n\n" + "\n\n".join(parts)


def _chinese(doc: int, tokens: int) -> str:
    from apps.moonshot.tokens import estimate_tokens

    parts, total, i = [], 0, 0
    while total < tokens:
        part = (
            f"第{doc}号泵站规程第{i}条：值班人员检查{i % 17}号密封件和{i % 23}号管线，"
            f"记录压力{(doc * 131 + i * 7) % 900 + 100}千帕；磨损超过{i % 9 + 1}毫米时更换"
            f"G-{(i * 13) % 97}型垫片。"
        )
        parts.append(part)
        total += estimate_tokens(part)
        i += 1
    return f"第{doc}号泵站维护手册\n\n" + "\n\n".join(parts)


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


def _chunk_delays(streams: Sequence[Stream], stamps: dict[str, list[float]]) -> list[float]:
    """For stream i (tag bench-i), content chunk k arrived at tokens[k]; the emulator sent it as
    body frame k + 1 (frame 0 is the role chunk)."""
    delays = []
    for i, stream in enumerate(streams):
        sent = stamps.get(f"bench-{i}", [])[1:]
        delays += [arrived - at for arrived, at in zip(stream.tokens, sent, strict=False)]
    return delays


async def concurrency(
    app_port: int, pid: int, emulator: str, seed: Seed, streams: int, expected: str
) -> Concurrency:
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

    started = time.monotonic()
    with _MemoryWatch(pid) as memory:
        results = await asyncio.gather(*(_ask(app_port, seed, i, i) for i in range(streams)))
    app_seconds = time.monotonic() - started
    stamps = await asyncio.to_thread(get_json, control + "/_bench/stamps")
    state = await asyncio.to_thread(emulator_state, emulator)
    app_delay = _chunk_delays(results, stamps)

    started = time.monotonic()
    direct = await asyncio.gather(*(_direct(emulator_port, body, i) for i in range(streams)))
    direct_seconds = time.monotonic() - started
    direct_stamps = await asyncio.to_thread(get_json, control + "/_bench/stamps")
    direct_delay = _chunk_delays(direct, direct_stamps)

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
        app_delay=app_delay,
        direct_delay=direct_delay,
        app_seconds=app_seconds,
        direct_seconds=direct_seconds,
    )


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


def run(
    *,
    trials: int = TRIALS,
    streams: int = STREAMS,
    context_tokens: int = CONTEXT_TOKENS,
    chunk_delay: float = CHUNK_DELAY,
    answer_chunks: int = ANSWER_CHUNKS,
    database: str = DATABASE,
) -> tuple[FirstToken, Concurrency]:
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    per_doc = context_tokens // CONTEXT_DOCUMENTS
    big = [
        (f"station-{d}.txt", (_english if d % 2 else _chinese)(d, per_doc))
        for d in range(CONTEXT_DOCUMENTS)
    ]
    small = [("station-small.txt", _english(99, 1500))]
    sentences = "".join(f"第{i}段：阀门每月检查一次。" for i in range(answer_chunks))
    expected = sentences[: answer_chunks * CHUNK_CHARS]
    emulator_args = ["--chunk-delay", "0", "--first-token-delay", "0"]
    with (
        bench_database(database) as db_url,
        emulator_process(
            api_key=API_KEY, args=emulator_args, module="bench._stamped_emulator"
        ) as emulator,
    ):
        with _offline_extraction():
            handbook = _seed(name="Handbook", documents=big, conversations=trials + 1)
            team = _seed(name="Team", documents=small, conversations=streams + 1)
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
            "MOONSHOT_CONCURRENCY": str(streams * 2 + 10),
            "MOONSHOT_TPM": "1000000000",
            "MOONSHOT_TPD": "0",
        }
        try:
            with web_server(env, log_name="bench-streaming-uvicorn.log") as (url, pid):
                port = int(url.rsplit(":", 1)[1])
                answer = {"answer_override": "Valves are inspected monthly [station-1.txt]."}
                _post(emulator.removesuffix("/v1") + "/_emulator/faults", answer)
                ttft = asyncio.run(first_token(port, emulator, handbook, trials))
                _post(
                    emulator.removesuffix("/v1") + "/_emulator/config",
                    {"chunk_delay": chunk_delay, "chunk_chars": CHUNK_CHARS},
                )
                load = asyncio.run(concurrency(port, pid, emulator, team, streams, expected))
        finally:
            forget_namespace(namespace)
    _print(ttft, load, chunk_delay)
    return ttft, load


def _print(t: FirstToken, c: Concurrency, chunk_delay: float) -> None:
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
            f"p90 {ms(percentile(values, 90))}, min {ms(min(values))}, max {ms(max(values))}"
        )
    print(
        f"2. {c.streams} concurrent streams through one uvicorn process, {c.chunks_per_answer} "
        f"chunks of {CHUNK_CHARS} characters every {chunk_delay * 1000:.0f} ms each:"
    )
    print(
        f"   complete answers: {c.complete}/{c.streams}, saved complete with usage: "
        f"{c.saved_complete}/{c.streams}, errors: {len(c.errors)}"
    )
    for error in c.errors[:5]:
        print(f"     {error}")
    print(
        f"   open at once: {c.most_open} (emulator: {c.emulator_most_in_flight} in flight); "
        f"all done in {c.app_seconds:.1f} s (direct: {c.direct_seconds:.1f} s)"
    )
    print(
        f"   web process memory: {c.rss_before / 2**20:.0f} MiB before, "
        f"{c.rss_peak / 2**20:.0f} MiB at peak = {c.memory_per_stream / 1024:.0f} KiB per stream"
    )
    for label, values in (("through DocQA", c.app_delay), ("emulator direct", c.direct_delay)):
        if values:
            print(
                f"   chunk delay {label} ({len(values):,} chunks): "
                f"median {ms(statistics.median(values))}, p99 {ms(percentile(values, 99))}, "
                f"max {ms(max(values))}"
            )
    if c.app_delay and c.direct_delay:
        extra = percentile(c.app_delay, 99) - percentile(c.direct_delay, 99)
        print(f"   extra delay per chunk added by DocQA, p99: {ms(extra)}", flush=True)


def main() -> None:
    run()

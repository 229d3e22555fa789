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
import time
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from bench._sse_client import Stream, post_sse
from bench._stack import (
    bench_database,
    cpu_seconds,
    emulator_process,
    emulator_state,
    forget_namespace,
    get_bytes,
    get_json,
    post_json,
    rss_bytes,
    web_server,
)
from bench._stream_figures import (
    Concurrency,
    FirstToken,
    chunk_delays,
    open_at_once,
    open_times,
    print_first_token,
    print_load,
)
from bench._stream_seed import (
    CSRF_TOKEN,
    Seed,
    chinese_manual,
    english_manual,
    offline_extraction,
    seed_workspace,
)

DATABASE = "docqa_bench_stream"
API_KEY = "sk-bench-streaming"
CONTEXT_TOKENS = 100_000
CONTEXT_DOCUMENTS = 10
TRIALS = 40
STREAMS = 500
# The provider's pace in parts 2 and 3: an 8-character chunk every 100 ms, ten chunks a second
# per answer (about 20 tokens/s of English, 50 of Chinese: Kimi's usual range).
CHUNK_DELAY = 0.1
CHUNK_CHARS = 8
ANSWER_CHUNKS = 60
QUESTION = "How often are the pressure relief valves inspected?"
_TAG = re.compile(rb"\[bench-[0-9]+\]")


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
    return get_bytes(emulator.removesuffix("/v1") + "/_bench/last-body")


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
    await asyncio.to_thread(post_json, control + "/_emulator/reset", {})
    await asyncio.to_thread(post_json, control + "/_emulator/faults", {"answer_override": expected})
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
    app_delays = chunk_delays(results, stamps)

    started = time.monotonic()
    direct = await asyncio.gather(
        *(
            _later(i * arrival_seconds / streams, _direct(emulator_port, body, i))
            for i in range(streams)
        )
    )
    direct_seconds = time.monotonic() - started
    direct_stamps = await asyncio.to_thread(get_json, control + "/_bench/stamps")
    direct_delays = chunk_delays(direct, direct_stamps)

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
        most_open=open_at_once(results),
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
        open_times=open_times(results),
    )


async def _later(delay: float, call: Awaitable[Stream]) -> Stream:
    await asyncio.sleep(delay)
    return await call


def _emulator_cpu(control: str) -> float:
    return float(get_json(control + "/_bench/cpu")["seconds"])


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


# Steady: 500 questions over 20 s, 40 s answers, so all 500 stream at once for about 20 s (the
# p99 "while >= 95 % were open" is the figure for 500 concurrent streams).
# Burst: 500 questions in the same instant (6 s answers): the worst case for starting them.
# Capacity: 100 streams over 2 s, what one process carries with room to spare.
LOADS = (
    Load("arriving over 20 s", STREAMS, 20.0, 400),
    Load("all sent at once", STREAMS, 0.0, ANSWER_CHUNKS),
    Load("arriving over 2 s", 100, 2.0, 100),
)


def _answer(chunks: int) -> str:
    """English, so that 400 chunks stay within the answer's 1,024 tokens (Chinese reaches that
    at about 210 chunks of 8 characters)."""
    sentences = "".join(f"Part {i}: the valves are inspected monthly. " for i in range(chunks))
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
        (f"station-{d}.txt", (english_manual if d % 2 else chinese_manual)(d, per_doc))
        for d in range(CONTEXT_DOCUMENTS)
    ]
    small = [("station-small.txt", english_manual(99, 1500))]
    emulator_args = ["--chunk-delay", "0", "--first-token-delay", "0"]
    with (
        bench_database(database) as db_url,
        emulator_process(
            api_key=API_KEY, args=emulator_args, module="bench._stamped_emulator"
        ) as emulator,
    ):
        control = emulator.removesuffix("/v1")
        with offline_extraction():
            handbook = seed_workspace(name="Handbook", documents=big, conversations=trials + 1)
            teams = [
                seed_workspace(name=f"Team {n}", documents=small, conversations=load.streams + 1)
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
            "MOONSHOT_CONCURRENCY": str(max((load.streams for load in loads), default=0) * 2 + 10),
            "MOONSHOT_TPM": "1000000000",
            "MOONSHOT_TPD": "0",
        }
        results = []
        try:
            with web_server(env, log_name="bench-streaming-uvicorn.log") as (url, pid):
                port = int(url.rsplit(":", 1)[1])
                answer = {"answer_override": "Valves are inspected monthly [station-1.txt]."}
                post_json(control + "/_emulator/faults", answer)
                ttft = asyncio.run(first_token(port, emulator, handbook, trials))
                print_first_token(ttft, CONTEXT_DOCUMENTS)
                config = {"chunk_delay": chunk_delay, "chunk_chars": CHUNK_CHARS}
                post_json(control + "/_emulator/config", config)
                for n, (load, team) in enumerate(zip(loads, teams, strict=True), start=2):
                    expected = _answer(load.answer_chunks)
                    result = asyncio.run(
                        concurrency(
                            port, pid, emulator, team, load.streams, expected, load.arrival_seconds
                        )
                    )
                    print_load(n, load.label, result, chunk_delay, CHUNK_CHARS)
                    results.append(result)
        finally:
            forget_namespace(namespace)
    return ttft, results


def main() -> None:
    run()

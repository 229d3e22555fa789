"""The API for programs against the browser path and the provider (issue 18).

The streaming benchmark's stack (``bench.streaming``): one uvicorn process, a scratch database,
the stamped emulator as its own process, the small asyncio SSE client. For 1k and 100k tokens
of documents in scope, time to first token of four paths, in turns within each trial:

- the browser's ask (session cookie, CSRF) -> the first ``delta`` event;
- ``POST /api/v1/conversations/{id}/ask`` with ``stream: true`` (bearer key) -> the first
  ``delta`` event;
- ``POST /api/openai/v1/chat/completions`` with ``stream: true`` -> the first chunk with
  content;
- the request body DocQA sent upstream, replayed straight to the emulator -> its first content
  chunk.

Then ``STREAMS`` API streams at once (the REST ask, then the OpenAI-compatible route), each
checked complete: the whole text, the closing event, no error.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings

from bench._sse_client import Stream, post_sse
from bench._stack import bench_database, emulator_process, forget_namespace, post_json, web_server
from bench._stream_figures import ms, percentile
from bench._stream_seed import (
    CSRF_TOKEN,
    Seed,
    chinese_manual,
    english_manual,
    offline_extraction,
    seed_workspace,
)
from bench.streaming import API_KEY, _direct, _last_body

DATABASE = "docqa_bench_api"
CONTEXTS = (1_000, 100_000)
DOCUMENTS = {1_000: 1, 100_000: 10}
TRIALS = 20
STREAMS = 200
QUESTION = "How often are the pressure relief valves inspected?"
LEGS = ("browser", "api", "openai", "direct")


@dataclass
class Paths:
    context_tokens: int
    trials: int
    first_token: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in LEGS})

    def added(self, leg: str) -> list[float]:
        pairs = zip(self.first_token[leg], self.first_token["direct"], strict=True)
        return [a - d for a, d in pairs]


@dataclass(frozen=True)
class Many:
    route: str
    streams: int
    complete: int
    errors: list[str]
    seconds: float


@dataclass(frozen=True)
class Target:
    seed: Seed
    secret: str  # the workspace's API key


def _api_key(seed: Seed) -> str:
    from apps.api.services import create_key
    from apps.workspaces.models import Membership, Role

    owner = Membership.objects.select_related("workspace", "user").get(
        workspace__slug=seed.slug, role=Role.OWNER
    )
    return create_key(actor=owner, name="bench", role=Role.MEMBER).secret


def _bearer(target: Target) -> dict[str, str]:
    return {"Content-Type": "application/json", "Authorization": f"Bearer {target.secret}"}


async def _leg(leg: str, port: int, target: Target, index: int, tag: int) -> Stream:
    question = f"[bench-{tag}] {QUESTION}"
    conversation = target.seed.conversations[index]
    if leg == "browser":
        headers = {
            "Content-Type": "application/json",
            "Cookie": target.seed.cookies,
            "X-CSRFToken": CSRF_TOKEN,
        }
        body = json.dumps({"question": question}).encode()
        path = f"/w/{target.seed.slug}/chat/{conversation}/ask/"
        return await post_sse(port, path, body, headers)
    if leg == "api":
        body = json.dumps({"question": question, "stream": True}).encode()
        path = f"/api/v1/conversations/{conversation}/ask"
        return await post_sse(port, path, body, _bearer(target))
    body = json.dumps(
        {
            "model": f"docqa/{target.seed.slug}",
            "messages": [{"role": "user", "content": question}],
            "stream": True,
        }
    ).encode()
    return await post_sse(
        port, "/api/openai/v1/chat/completions", body, _bearer(target), provider=True
    )


def _require(stream: Stream, what: str) -> None:
    if stream.error or stream.first_token is None:
        raise RuntimeError(f"{what} failed: {stream.error or 'no answer text'}")


async def first_tokens(port: int, emulator: str, target: Target, trials: int, size: int) -> Paths:
    """One warm-up of each path, then `trials` rounds with the order of the paths rotated."""
    emulator_port = int(emulator.rsplit(":", 1)[1].split("/")[0])
    paths = Paths(context_tokens=size, trials=trials)
    conversation = 0
    for leg in LEGS[:3]:
        _require(await _leg(leg, port, target, conversation, 0), f"warm-up {leg}")
        conversation += 1
    body = await asyncio.to_thread(_last_body, emulator)
    _require(await _direct(emulator_port, body, 0), "warm-up direct")
    for trial in range(1, trials + 1):
        order = LEGS[trial % 4 :] + LEGS[: trial % 4]
        for leg in order:
            if leg == "direct":
                stream = await _direct(emulator_port, body, trial)
            else:
                stream = await _leg(leg, port, target, conversation, trial)
                conversation += leg != "openai"  # the OpenAI route makes its own
            _require(stream, f"{leg} {trial}")
            assert stream.first_token is not None
            paths.first_token[leg].append(stream.first_token - stream.started)
    return paths


async def many(port: int, target: Target, route: str, streams: int, first: int) -> Many:
    loop = asyncio.get_running_loop()
    started = loop.time()
    results = await asyncio.gather(
        *(_leg(route, port, target, first + i, 10_000 + i) for i in range(streams))
    )
    seconds = loop.time() - started
    errors = [f"{route} {i}: {r.error}" for i, r in enumerate(results) if r.error]
    complete = sum(1 for r in results if not r.error and r.text and r.events.get("done"))
    return Many(route, streams, complete, errors, seconds)


def _print_paths(p: Paths) -> None:
    print(f"first token with ~{p.context_tokens:,} tokens of documents, {p.trials} trials:")
    for leg in LEGS:
        values = p.first_token[leg]
        print(f"   {leg}: median {ms(statistics.median(values))}, p90 {ms(percentile(values, 90))}")
    for leg in LEGS[:3]:
        added = p.added(leg)
        print(
            f"   added by {leg} (paired with direct): median {ms(statistics.median(added))}, "
            f"p90 {ms(percentile(added, 90))}",
            flush=True,
        )


def _print_many(m: Many) -> None:
    print(
        f"{m.streams} concurrent {m.route} streams: {m.complete}/{m.streams} complete, "
        f"{len(m.errors)} errors, all done in {m.seconds:.1f} s",
        flush=True,
    )
    for error in m.errors[:5]:
        print(f"     {error[:300]}")


def run(
    *,
    trials: int = TRIALS,
    contexts: Sequence[int] = CONTEXTS,
    streams: int = STREAMS,
    chunk_delay: float = 0.1,
    database: str = DATABASE,
) -> tuple[list[Paths], list[Many]]:
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    emulator_args = ["--chunk-delay", "0", "--first-token-delay", "0"]
    conversations = trials * 2 + 4
    with (
        bench_database(database) as db_url,
        emulator_process(
            api_key=API_KEY, args=emulator_args, module="bench._stamped_emulator"
        ) as emulator,
    ):
        control = emulator.removesuffix("/v1")
        with offline_extraction():
            targets = {}
            for size in contexts:
                count = DOCUMENTS.get(size, max(1, size // 10_000))
                docs = [
                    (
                        f"station-{d}.txt",
                        (english_manual if d % 2 else chinese_manual)(d, size // count),
                    )
                    for d in range(count)
                ]
                seed = seed_workspace(name=f"Handbook {size}", documents=docs, conversations=0)
                targets[size] = seed
            crowd = seed_workspace(
                name="Crowd",
                documents=[("station-small.txt", english_manual(99, 1500))],
                conversations=streams + 1,
            )
        keyed = {size: Target(seed, _api_key(seed)) for size, seed in targets.items()}
        crowd_target = Target(crowd, _api_key(crowd))
        for size, target in keyed.items():  # the first-token rounds ask in fresh conversations
            keyed[size] = Target(_with_conversations(target.seed, conversations), target.secret)
        env = {
            "DJANGO_SETTINGS_MODULE": "bench._settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECURE": "0",
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_LOG_LEVEL": "WARNING",
            "DATABASE_URL": db_url,
            "DJANGO_DB_POOL_SIZE": "20",
            "REDIS_URL": settings.REDIS_URL,
            "DOCQA_BENCH_ADMISSION_NAMESPACE": namespace,
            "MOONSHOT_API_KEY": API_KEY,
            "MOONSHOT_BASE_URL": emulator,
            "MOONSHOT_RPM": "1000000",
            "MOONSHOT_CONCURRENCY": str(streams * 2 + 10),
            "MOONSHOT_TPM": "1000000000",
            "MOONSHOT_TPD": "0",
            # One key drives every stream here; the per-key limit is not what is measured.
            "API_RATE_LIMIT_PER_MINUTE": "1000000",
        }
        paths, crowds = [], []
        try:
            with web_server(env, log_name="bench-api-uvicorn.log") as (url, _pid):
                port = int(url.rsplit(":", 1)[1])
                answer = {"answer_override": "Valves are inspected monthly [station-1.txt]."}
                post_json(control + "/_emulator/faults", answer)
                for size in contexts:
                    result = asyncio.run(first_tokens(port, emulator, keyed[size], trials, size))
                    _print_paths(result)
                    paths.append(result)
                post_json(control + "/_emulator/config", {"chunk_delay": chunk_delay})
                for route in ("api", "openai"):
                    result = asyncio.run(many(port, crowd_target, route, streams, 0))
                    _print_many(result)
                    crowds.append(result)
        finally:
            forget_namespace(namespace)
    return paths, crowds


def _with_conversations(seed: Seed, count: int) -> Seed:
    from apps.accounts.models import User
    from apps.chat.services import create_conversation
    from apps.workspaces.models import Workspace

    workspace = Workspace.objects.get(slug=seed.slug)
    user = User.objects.get(pk=workspace.created_by_id)
    ids = [create_conversation(workspace=workspace, user=user).pk for _ in range(count)]
    return Seed(slug=seed.slug, conversations=ids, cookies=seed.cookies)


def main() -> None:
    run()

"""Ingestion throughput against a rate-limited provider (issue 4).

N small text documents go through the real upload service (``apps.documents.services``) into a
dedicated database, and real Celery worker processes extract them through Moonshot's
file-extract path (upload, content, delete: 3 provider requests each) against the provider
emulator, run as its own process (``python -m tools.moonshot_emulator``). The emulator and the
workers' admission controller share one tier: R requests/min and C concurrent requests, with the
real 61 s admission window. The clock runs from the first upload until every document is READY.

Under R requests/min a document costs 3 requests, so the limits allow R/3 documents/min
(60/61 of that with a 61 s window), after a first window in which R requests may go at once. The
bench prints the sustained documents/min after that first window (see ``bench._rates``), the
whole run against the shortest the limits allow, and the 429s the emulator returned.

The database (``docqa_bench``) is created on the server of DATABASE_URL, migrated, and dropped at
the end; uploaded originals go to a temporary directory; admission keys use their own Redis
namespace and are deleted at the end.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from bench._rates import min_makespan, sustained_per_minute
from bench._stack import (
    BASE_DIR,
    bench_database,
    emulator_process,
    emulator_state,
    forget_namespace,
)
from docqa.processes import work

DOCS = 200
# 240 requests/min = 80 documents/min: 200 documents span three windows (80, 80, 40) in ~2 min.
RPM, CONCURRENCY = 240, 3
WORKER_CONCURRENCY = 4  # prefork children; background work may hold C - 1 = 2 slots
REQUESTS_PER_DOC = 3  # upload, content, delete
WINDOW_SECONDS = 61.0
DATABASE = "docqa_bench"
API_KEY = "sk-bench-ingestion"
TIMEOUT = 210.0  # give up waiting for READY after this long


@dataclass(frozen=True)
class Ingestion:
    docs: int
    rpm: int
    concurrency: int
    ready: int
    failed: int
    upload_seconds: float  # creating the documents through the upload service
    elapsed: float  # first upload until the last document is READY
    sustained: float | None  # documents/min after the first window
    calls: dict[str, dict[str, int]]  # by route and status, as the emulator counted them
    rate_limited: int
    max_concurrent: int

    @property
    def allowed(self) -> float:
        """Documents/min the limits allow: R/3."""
        return self.rpm / REQUESTS_PER_DOC

    @property
    def bound(self) -> float:
        """The shortest run the limits allow: until the last request may start."""
        return min_makespan(self.docs * REQUESTS_PER_DOC, self.rpm, WINDOW_SECONDS)


# --- the pieces: database, emulator, worker --------------------------------------------------


@contextlib.contextmanager
def celery_worker(env: Mapping[str, str], *, concurrency: int) -> Iterator[None]:
    """A real ``celery worker`` process with ``env`` on top of this one's; waits for its ping."""
    log_path = BASE_DIR / "var" / "bench-celery-worker.log"
    name = f"bench-{os.getpid()}@%h"
    with work(env, log_path=log_path, concurrency=concurrency, name=name, loglevel="WARNING"):
        yield


def by_route(calls: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """The emulator's per-path call counts with file ids folded: ``GET /v1/files/{id}/content``."""
    out: dict[str, dict[str, int]] = {}
    for route, statuses in calls.items():
        method, _, path = route.partition(" ")
        parts = path.split("/")
        if len(parts) > 3 and parts[1:3] == ["v1", "files"]:
            parts[3] = "{id}"
        merged = out.setdefault(f"{method} {'/'.join(parts)}", {})
        for status, n in statuses.items():
            merged[status] = merged.get(status, 0) + n
    return out


# --- the run -----------------------------------------------------------------------------------


def _document_text(i: int) -> bytes:
    lines = [f"Benchmark document {i}: shipment {i * 7919 % 10007} leaves dock {i % 12}."]
    lines += [f"Line {n}: the quick brown fox jumps over the lazy dog." for n in range(20)]
    return ("\n".join(lines) + "\n").encode()


def _ingest(docs: int) -> list[int]:
    """Create ``docs`` documents through the upload service, as a workspace owner would."""
    from apps.accounts.services import register_user
    from apps.documents.services import ingest_upload
    from apps.workspaces.models import Membership
    from apps.workspaces.services import create_workspace

    user = register_user(email="bench@example.com", password=uuid.uuid4().hex)
    workspace = create_workspace(owner=user, name="Benchmark")
    actor = Membership.objects.get(workspace=workspace, user=user)
    ids = []
    for i in range(docs):
        upload = SimpleUploadedFile(f"doc-{i:04d}.txt", _document_text(i), "text/plain")
        result = ingest_upload(actor=actor, upload=upload)
        assert result.created and not result.reused_text
        ids.append(result.document.pk)
    return ids


def _wait_final(ids: list[int], timeout: float) -> None:
    from apps.documents.models import NOT_FINAL, Document

    deadline = time.monotonic() + timeout
    while Document.objects.filter(pk__in=ids, status__in=NOT_FINAL).exists():
        if time.monotonic() > deadline:
            print(f"gave up waiting after {timeout:.0f} s", flush=True)
            return
        time.sleep(0.25)


def run(
    *,
    docs: int = DOCS,
    rpm: int = RPM,
    concurrency: int = CONCURRENCY,
    worker_concurrency: int = WORKER_CONCURRENCY,
    timeout: float = TIMEOUT,
    window: float = WINDOW_SECONDS,
    database: str = DATABASE,
) -> Ingestion:
    """Ingest ``docs`` documents under R=``rpm`` and C=``concurrency``; print and return figures.

    ``window`` is the workers' admission window; ``database`` is created, used and dropped.
    """
    from apps.documents.models import Document, Status

    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    with (
        bench_database(database) as db_url,
        emulator_process(
            api_key=API_KEY, args=["--rpm", str(rpm), "--concurrency", str(concurrency)]
        ) as base_url,
        tempfile.TemporaryDirectory(prefix="docqa-bench-media-") as media,
    ):
        storages = {**settings.STORAGES, "default": {**settings.STORAGES["default"]}}
        storages["default"]["OPTIONS"] = {**storages["default"]["OPTIONS"], "location": media}
        env = {
            "DJANGO_SETTINGS_MODULE": "bench._settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECURE": "0",
            "DJANGO_SECRET_KEY": "bench-only-" + uuid.uuid4().hex * 2,
            "DJANGO_LOG_LEVEL": "WARNING",
            "DATABASE_URL": db_url,
            "REDIS_URL": settings.REDIS_URL,
            "DOCQA_MEDIA_ROOT": media,
            "DOCQA_BENCH_ADMISSION_NAMESPACE": namespace,
            "MOONSHOT_API_KEY": API_KEY,
            "MOONSHOT_BASE_URL": base_url,
            "MOONSHOT_RPM": str(rpm),
            "MOONSHOT_CONCURRENCY": str(concurrency),
            "MOONSHOT_TPM": "2000000",
            "MOONSHOT_TPD": "0",
            "MOONSHOT_RATE_WINDOW_SECONDS": str(window),
        }
        try:
            with (
                override_settings(MEDIA_ROOT=media, STORAGES=storages),
                celery_worker(env, concurrency=worker_concurrency),
            ):
                started = time.time()
                ids = _ingest(docs)
                uploaded = time.time()
                _wait_final(ids, timeout)
            state = emulator_state(base_url)
            rows = Document.objects.filter(pk__in=ids).values_list("status", "status_changed_at")
            ready = sorted(at.timestamp() for status, at in rows if status == Status.READY)
            result = Ingestion(
                docs=docs,
                rpm=rpm,
                concurrency=concurrency,
                ready=len(ready),
                failed=sum(1 for status, _ in rows if status == Status.FAILED),
                upload_seconds=uploaded - started,
                elapsed=(ready[-1] if ready else time.time()) - started,
                sustained=sustained_per_minute(ready, rpm // REQUESTS_PER_DOC),
                calls=by_route(state["calls_by_route"]),
                rate_limited=int(state["rate_limited_count"]),
                max_concurrent=int(state["max_concurrent_seen"]),
            )
        finally:
            forget_namespace(namespace)
    _print(result, worker_concurrency)
    return result


def _print(r: Ingestion, worker_concurrency: int) -> None:
    print(
        f"{r.docs} text documents, emulator and admission R={r.rpm}/min C={r.concurrency} "
        f"(background work holds at most {max(1, r.concurrency - 1)}), "
        f"1 Celery worker x {worker_concurrency} processes"
    )
    print(
        f"ready: {r.ready}, failed: {r.failed}; created through the upload service in "
        f"{r.upload_seconds:.1f} s"
    )
    calls = "; ".join(
        f"{route}: {', '.join(f'{n} x {status}' for status, n in sorted(by.items()))}"
        for route, by in sorted(r.calls.items())
    )
    print(f"provider calls: {calls}")
    print(f"429s seen by the emulator: {r.rate_limited}; most in flight: {r.max_concurrent}")
    print(
        f"first upload to last READY: {r.elapsed:.1f} s = {r.docs / r.elapsed * 60:.1f} docs/min "
        f"(the limits allow the last request at {r.bound:.0f} s at the earliest, since the first "
        f"{r.rpm} requests may go at once)"
    )
    if r.sustained is None:
        print("sustained rate: not measured (the run did not outlast one window)")
    else:
        print(
            f"sustained after the first window: {r.sustained:.1f} docs/min = "
            f"{r.sustained / r.allowed:.3f} of R/3 = {r.allowed:.0f} docs/min "
            f"(ceiling with a 61 s window: {60 / WINDOW_SECONDS:.3f})",
            flush=True,
        )


def main() -> None:
    run()

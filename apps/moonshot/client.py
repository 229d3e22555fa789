"""The Moonshot (Kimi) API client: the one place that sends HTTP to the provider.

`MoonshotClient` is synchronous (Celery workers); `AsyncMoonshotClient` is asynchronous (the
streaming chat view). Both:

- pass every call through the shared Redis admission controller (concurrency, RPM, TPM, TPD),
  with chat calls marked interactive so they go ahead of background ingestion;
- never retry at the HTTP level; instead a 429 sets the shared cooldown and the call goes back
  through admission, overloaded/5xx/network errors back off exponentially with jitter, and
  400/401/403/quota errors fail at once (reference §B4);
- raise only the exceptions in `apps.moonshot.errors`, whose messages never carry the API key or
  account ids.

Timeouts are per phase; `read` is the longest allowed gap between two stream chunks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
import urllib.request
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

import httpx
import orjson
from django.conf import settings

from . import errors
from .admission import AdmissionController, Priority, WaitInfo, get_controller
from .http11 import HttpTransport
from .streaming import StreamInterrupted, aiter_chunks
from .tokens import estimate_messages_tokens
from .types import ChatResult, FileContent, ModelEntry, RemoteFile, StreamChunk

logger = logging.getLogger(__name__)

Message = Mapping[str, Any]
DEFAULT_MAX_TOKENS = 1024  # what the provider assumes when max_tokens is unset (reference §5.1)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry transient failures (reference perf anchors §B4)."""

    max_attempts: int = 5
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    cooldown_min: float = 3.0  # after a 429, every process waits at least this long

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
        return random.uniform(0, min(self.backoff_cap, self.backoff_base * 2**attempt))  # noqa: S311


def _timeout() -> httpx.Timeout:
    return httpx.Timeout(
        connect=settings.MOONSHOT_CONNECT_TIMEOUT,
        read=settings.MOONSHOT_READ_TIMEOUT,
        write=settings.MOONSHOT_WRITE_TIMEOUT,
        pool=settings.MOONSHOT_POOL_TIMEOUT,
    )


def provider_configured() -> bool:
    """True when a key is set: ingestion and chat then use the provider, else work offline."""
    return bool(settings.MOONSHOT_API_KEY)


def chat_cost(
    messages: Sequence[Message], max_tokens: int, prompt_tokens: int | None = None
) -> int:
    """Tokens the provider charges against TPM at admission: prompt + max_tokens.

    `prompt_tokens` is the caller's own estimate of `messages` (the chat context builder has
    one): estimating 100k tokens of documents again costs tens of milliseconds per question.
    """
    if prompt_tokens is None:
        prompt_tokens = estimate_messages_tokens(messages)
    return prompt_tokens + max_tokens


def _chat_body(
    messages: Sequence[Message],
    model: str,
    max_tokens: int,
    sampling: Mapping[str, Any] | None,
    stream: bool,
) -> dict[str, Any]:
    """The request body; ``sampling`` adds the caller's temperature, top_p, stop, penalties
    (checked by the caller against the reference's ranges, §5.1)."""
    body: dict[str, Any] = {"model": model, "messages": list(messages), "max_tokens": max_tokens}
    body.update(sampling or {})
    if stream:
        body["stream"] = True
    return body


def _parse_error(response: httpx.Response) -> errors.MoonshotError:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text[:500]
    return errors.from_response(response.status_code, body, response.headers)


def _network_error(exc: httpx.HTTPError) -> errors.NetworkError:
    # str(exc) of an httpx error names the URL at most, never headers: the key cannot leak.
    return errors.NetworkError(f"{type(exc).__name__}: {exc}")


class _Base:
    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        admission: AdmissionController | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.api_key = api_key if api_key is not None else settings.MOONSHOT_API_KEY
        self.base_url = (base_url or settings.MOONSHOT_BASE_URL).rstrip("/")
        self.admission = admission or get_controller()
        self.retry = retry or RetryPolicy(
            cooldown_min=float(getattr(settings, "MOONSHOT_COOLDOWN_MIN_SECONDS", 3.0))
        )

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def _after_failure(self, error: errors.MoonshotError, attempt: int) -> float | None:
        """Seconds to wait before retrying, or None when the error must be raised.

        A 429 answers 0: the caller sets the shared cooldown (`_cooldown_for`), and admission
        then makes every process wait it out.
        """
        if isinstance(error, errors.RateLimitedError):
            logger.warning("Provider rate limit (%s)", error.dimension)
        if not error.retryable or attempt + 1 >= self.retry.max_attempts:
            return None
        if isinstance(error, errors.FileCountExceededError):
            return None  # the caller frees slots (evict/reconcile) before trying again
        if isinstance(error, errors.RateLimitedError):
            return 0.0
        wait = max(error.retry_after or 0, self.retry.backoff(attempt))
        logger.warning("Provider call failed (%s); retrying in %.1fs", error.admin_message, wait)
        return wait

    def _cooldown_for(self, error: errors.RateLimitedError) -> float:
        """The shared cooldown a 429 asks for (at least `cooldown_min`)."""
        return max(self.retry.cooldown_min, error.retry_after or 0)


class MoonshotClient(_Base):
    """Synchronous client for Celery tasks and management commands."""

    _http_lock = threading.Lock()
    _shared_http: httpx.Client | None = None

    @classmethod
    def _http(cls) -> httpx.Client:
        with cls._http_lock:
            if cls._shared_http is None:
                cls._shared_http = httpx.Client(timeout=_timeout(), follow_redirects=False)
            return cls._shared_http

    def _request(
        self,
        method: str,
        path: str,
        *,
        cost_tokens: int = 0,
        priority: Priority = Priority.BACKGROUND,
        retry_network: bool = True,
        **kwargs: Any,
    ) -> httpx.Response:
        for attempt in range(self.retry.max_attempts):
            try:
                with self.admission.slot(cost_tokens=cost_tokens, priority=priority):
                    try:
                        response = self._http().request(
                            method, f"{self.base_url}{path}", headers=self.headers, **kwargs
                        )
                    except httpx.HTTPError as exc:
                        raise _network_error(exc) from exc
                    if not response.is_success:  # inside the slot: only a success ends a 429 run
                        raise _parse_error(response)
                return response
            except errors.MoonshotError as error:
                if isinstance(error, errors.RateLimitedError):
                    cooldown = self._cooldown_for(error)
                    self.admission.cooldown(cooldown, reason=error.dimension)
                    self.admission.record_rate_limited(error.dimension)
                if isinstance(error, errors.NetworkError) and not retry_network:
                    raise
                wait = self._after_failure(error, attempt)
                if wait is None:
                    raise
                time.sleep(wait)
        raise AssertionError("unreachable: the last attempt raises")

    # --- files ----------------------------------------------------------------------------------
    def upload_file(
        self, filename: str, data: bytes | IO[bytes], *, purpose: str = "file-extract"
    ) -> RemoteFile:
        """Upload for extraction. Not retried on network errors: a timeout after the bytes were
        sent may still have created the file, so the caller decides (reconcile finds orphans)."""
        response = self._request(
            "POST",
            "/files",
            files={"file": (filename, data)},
            data={"purpose": purpose},
            retry_network=False,
        )
        return RemoteFile.from_json(response.json())

    def list_files(self, *, max_pages: int = 20) -> list[RemoteFile]:
        """Every stored file. The first page is the plain list (what Moonshot's samples read);
        further pages follow ``after=<last id>`` in case the provider pages. Whether it honours
        ``after`` is unknown (reference §10.4), so the walk stops at an empty page, at
        ``has_more: false``, or at a page that brings no id not already seen (a provider that
        ignores ``after`` returns the same list again); ``max_pages`` bounds it regardless."""
        files: dict[str, RemoteFile] = {}
        params: dict[str, str] = {}
        for _page in range(max_pages):
            body = self._request("GET", "/files", params=params).json()
            page = [RemoteFile.from_json(item) for item in body.get("data") or []]
            fresh = [f for f in page if f.id not in files]
            files.update((f.id, f) for f in fresh)
            if not fresh or body.get("has_more") is False:
                break
            params = {"after": page[-1].id}
        else:
            logger.warning("Provider file list still paging after %d pages; stopped", max_pages)
        return list(files.values())

    def retrieve_file(self, file_id: str) -> RemoteFile:
        return RemoteFile.from_json(self._request("GET", f"/files/{file_id}").json())

    def delete_file(self, file_id: str) -> bool:
        """Delete a remote file; False when it was already gone (deleting is idempotent)."""
        try:
            response = self._request("DELETE", f"/files/{file_id}")
        except errors.NotFoundError:
            return False
        return bool(response.json().get("deleted", True))

    def file_content(self, file_id: str) -> FileContent:
        """The extraction result. A failed extraction raises ExtractionFailedError."""
        try:
            response = self._request("GET", f"/files/{file_id}/content")
        except errors.ServerError as error:
            raise errors.ExtractionFailedError(error.admin_message, status=error.status) from error
        return FileContent.from_raw(response.text)

    # --- chat, tokens, models --------------------------------------------------------------------
    def chat(
        self,
        messages: Sequence[Message],
        *,
        model: str,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        sampling: Mapping[str, Any] | None = None,
        priority: Priority = Priority.INTERACTIVE,
    ) -> ChatResult:
        response = self._request(
            "POST",
            "/chat/completions",
            json=_chat_body(messages, model, max_tokens, sampling, stream=False),
            cost_tokens=chat_cost(messages, max_tokens),
            priority=priority,
        )
        return ChatResult.from_json(response.json())

    def estimate_tokens(self, messages: Sequence[Message], *, model: str) -> int:
        """The provider's exact count, for when a local estimate is too close to a limit."""
        response = self._request(
            "POST",
            "/tokenizers/estimate-token-count",
            json={"model": model, "messages": list(messages)},
            priority=Priority.INTERACTIVE,
        )
        return int(response.json()["data"]["total_tokens"])

    def list_models(self) -> list[ModelEntry]:
        response = self._request("GET", "/models")
        return [ModelEntry.from_json(item) for item in response.json().get("data") or []]


def _body(response: httpx.Response) -> AsyncIterator[bytes]:
    """The streamed body as it arrives. Unencoded (what the provider sends) it is read raw,
    past httpx's decoding and re-chunking layers (about 10 µs of CPU per chunk, measured);
    a compressed body (a proxy may add one) goes through httpx's decoders."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return response.aiter_raw()
    return response.aiter_bytes()


def _trace_sent(on_sent: Callable[[], Any]) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
    """An httpcore `trace` extension that calls `on_sent` once the request is written (both
    apps/moonshot/http11 and httpcore's own connections report that event)."""

    async def trace(event: str, info: dict[str, Any]) -> None:
        if event == "http11.send_request_body.complete":
            on_sent()

    return trace


class AsyncMoonshotClient(_Base):
    """Asynchronous client for the streaming chat view (one httpx.AsyncClient per event loop)."""

    _clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
        weakref.WeakKeyDictionary()
    )

    @classmethod
    def _http(cls) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = cls._clients.get(loop)
        if client is None or client.is_closed:
            limits = httpx.Limits(max_connections=1000, max_keepalive_connections=50)
            # A proxy from the environment (HTTPS_PROXY …) is honoured only by httpx's own
            # transports, so with one set the client keeps httpx's; else apps/moonshot/http11.
            transport = None if urllib.request.getproxies() else HttpTransport(limits=limits)
            client = httpx.AsyncClient(
                timeout=_timeout(), limits=limits, transport=transport, follow_redirects=False
            )
            cls._clients[loop] = client
        return client

    async def stream_chat(
        self,
        messages: Sequence[Message],
        *,
        model: str,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        sampling: Mapping[str, Any] | None = None,
        on_wait: Callable[[WaitInfo], Any] | None = None,
        on_sent: Callable[[], Any] | None = None,
        prompt_tokens: int | None = None,
        priority: Priority = Priority.INTERACTIVE,
    ) -> AsyncIterator[StreamChunk]:
        """Yield chunks as they arrive, holding one admission slot for the whole stream.

        `prompt_tokens`: the caller's estimate of `messages`, charged at admission instead of
        estimating them again (see `chat_cost`). `on_sent` is called (on the loop, not awaited)
        each time the whole request has been written, while the provider works on it.

        Failures before the first chunk are retried through admission like any call; once a
        chunk has been yielded nothing is retried (the user already sees the answer). Closing
        the generator (Stop, a closed tab, cancellation) closes the upstream connection and
        frees the slot.
        """
        body = _chat_body(messages, model, max_tokens, sampling, stream=True)
        cost = chat_cost(messages, max_tokens, prompt_tokens)
        for attempt in range(self.retry.max_attempts):
            started = False
            try:
                async with (
                    self.admission.aslot(cost_tokens=cost, priority=priority, on_wait=on_wait),
                    self._open_stream(body, on_sent) as response,
                ):
                    async for chunk in aiter_chunks(_body(response)):
                        started = True
                        yield chunk
                return
            except errors.MoonshotError as error:
                if isinstance(error, errors.RateLimitedError):
                    cooldown = self._cooldown_for(error)
                    await self.admission.acooldown(cooldown, reason=error.dimension)
                    await self.admission.arecord_rate_limited(error.dimension)
                if started:
                    raise
                wait = self._after_failure(error, attempt)
                if wait is None:
                    raise
                await asyncio.sleep(wait)
            except httpx.HTTPError as exc:
                if started:  # the connection broke after tokens arrived: the answer is partial
                    raise StreamInterrupted(f"{type(exc).__name__}: {exc}") from exc
                network_error = _network_error(exc)
                wait = self._after_failure(network_error, attempt)
                if wait is None:
                    raise network_error from exc
                await asyncio.sleep(wait)

    @contextlib.asynccontextmanager
    async def _open_stream(
        self, body: dict[str, Any], on_sent: Callable[[], Any] | None = None
    ) -> AsyncIterator[httpx.Response]:
        url = f"{self.base_url}/chat/completions"
        # The same bytes as json=body, from orjson: this runs on the event loop that relays
        # every other answer, and json.dumps of 100k tokens of documents takes ~10 ms there
        # (orjson: 0.2 ms, measured).
        content = orjson.dumps(body)
        headers = {**self.headers, "Content-Type": "application/json"}
        extensions = {} if on_sent is None else {"trace": _trace_sent(on_sent)}
        async with self._http().stream(
            "POST", url, content=content, headers=headers, extensions=extensions
        ) as response:
            if not response.is_success:
                await response.aread()
                raise _parse_error(response)
            yield response

    async def estimate_tokens(self, messages: Sequence[Message], *, model: str) -> int:
        async with self.admission.aslot(cost_tokens=0, priority=Priority.INTERACTIVE):
            try:
                response = await self._http().post(
                    f"{self.base_url}/tokenizers/estimate-token-count",
                    json={"model": model, "messages": list(messages)},
                    headers=self.headers,
                )
            except httpx.HTTPError as exc:
                raise _network_error(exc) from exc
        if not response.is_success:
            raise _parse_error(response)
        return int(response.json()["data"]["total_tokens"])

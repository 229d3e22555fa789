"""HTTP/1.1 to the provider for the streaming client, its responses parsed by httptools.

Relaying a streamed answer costs the web process once per chunk for every open answer, and
reading the provider's stream was the largest part of it that was ours to change: through
httpcore and h11 (pure Python) a chunk cost 58-63 µs of CPU, through httpx on top 71-74 µs,
against 26-28 µs for a bare asyncio reader (docs/benchmarks.md). httptools is the C parser
(llhttp) that uvicorn already uses for the requests it serves; `HttpTransport` uses it for
the responses the provider sends, under httpx's own client, Request and Response (so
timeouts, decoding, errors and the rest of apps.moonshot stay httpx's).

Its scope is what the provider client sends: requests whose body is in memory, over plain
TCP or TLS (verified by `ssl_context`). Anything else (a HEAD request, whose response has no
body whatever its headers say, or a streamed request body) goes to httpx's own transport,
which this class extends.

What can fail, as httpx's own transport reports it: httpx.ConnectError / ConnectTimeout,
WriteError / WriteTimeout, ReadError / ReadTimeout, PoolTimeout (max_connections busy for
the pool timeout), RemoteProtocolError (a malformed response, or the connection closed before
the response was complete).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from typing import cast

import httptools
import httpx

# Stop reading the socket while this much of a body is buffered and unread.
_HIGH_WATER = 256 * 1024

_Origin = tuple[bytes, bytes, int]


class _ReadWaiter:
    """One reader's wait for the next data on a connection, with its read timeout.

    A streamed answer reads every ~100 ms with a 60 s read timeout, so the timer almost never
    fires: arming and cancelling one per read was the costliest line of reading a stream
    (py-spy, 500 streams). Instead each wait moves a deadline, and one timer per connection
    re-arms itself for the current deadline when it fires early. `timeout_error` is what a
    wait that outlasts its timeout raises.
    """

    def __init__(self, timeout_error: type[Exception]) -> None:
        self._timeout_error = timeout_error
        self._waiter: asyncio.Future[None] | None = None
        self._deadline = 0.0
        self._timer: asyncio.Handle | None = None
        self._timer_at = 0.0

    async def wait(self, timeout: float | None) -> None:
        """Until `wake` (data, EOF or an error arrived); `timeout_error` after `timeout` s."""
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        if timeout is not None:
            self._deadline = deadline = loop.time() + timeout
            if self._timer is None or deadline < self._timer_at:
                self._arm(loop, deadline)
        await waiter

    def wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        self.cancel_timer()
        self._timer = loop.call_at(when, self._fired)
        self._timer_at = when

    def _fired(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return  # no read waiting: the next one arms a new timer
        loop = waiter.get_loop()
        if loop.time() >= self._deadline:
            waiter.set_exception(self._timeout_error("timed out waiting for the provider"))
        else:
            self._arm(loop, self._deadline)


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection: the response being parsed, and whoever waits for it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.error: BaseException | None = None
        self.idle_since = 0.0
        self.reads = _ReadWaiter(httpx.ReadTimeout)
        self._writing_paused = False
        self._drained: asyncio.Future[None] | None = None
        self._reading_paused = False
        self.reset()

    def reset(self) -> None:
        """Ready for the next response on this connection."""
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.complete = False
        self.close_delimited = False  # neither Content-Length nor chunked: the body ends at EOF
        self.keep_alive = False  # both sides allow another request on this connection
        self.body: list[bytes] = []
        self.buffered = 0

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A connection made by create_connection: always a full (read and write) Transport.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            # An upgrade (101) is never asked for here: as unexpected as a malformed response.
            self.error = httpx.RemoteProtocolError(f"unexpected response: {exc!r}")
            self.close()
        if self.buffered > _HIGH_WATER and not self._reading_paused and self.transport:
            self.transport.pause_reading()
            self._reading_paused = True
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if exc is not None and self.error is None:
            self.error = httpx.ReadError(str(exc))
        self.reads.cancel_timer()
        self._wake()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # httptools callbacks

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if self.status < 200:
            return  # an interim response (100 Continue …): the real one follows
        names = {name.lower() for name, _ in self.headers}
        chunked = any(
            name.lower() == b"transfer-encoding" and b"chunked" in value.lower()
            for name, value in self.headers
        )
        self.close_delimited = (
            b"content-length" not in names and not chunked and self.status not in (204, 304)
        )
        self.keep_alive = self.parser.should_keep_alive()
        self.head_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.buffered += len(body)

    def on_message_complete(self) -> None:
        if self.status < 200:
            self.reset()
            return
        self.complete = True

    # for the transport

    def take_body(self) -> bytes:
        data = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        self.body.clear()
        self.buffered = 0
        if self._reading_paused and self.transport is not None:
            self.transport.resume_reading()
            self._reading_paused = False
        return data

    async def wait(self, timeout: float | None) -> None:
        """Until something arrives or the connection closes; httpx.ReadTimeout after
        `timeout` (one moving deadline per connection: _ReadWaiter)."""
        await self.reads.wait(timeout)

    async def drained(self, timeout: float | None) -> None:
        if not self._writing_paused or self.closed:
            return
        self._drained = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):
                await self._drained
        except TimeoutError:
            raise httpx.WriteTimeout("timed out sending the request") from None

    def usable(self, now: float, expiry: float) -> bool:
        """An idle connection that may carry the next request: open, silent, not expired."""
        silent = self.error is None and not self.head_done and not self.body
        return not self.closed and silent and now - self.idle_since < expiry

    def close(self) -> None:
        self.reads.cancel_timer()
        if self.transport is not None:
            self.transport.close()
        self.closed = True

    def _wake(self) -> None:
        self.reads.wake()


class _Body(httpx.AsyncByteStream):
    """The response body as it arrives; closing it gives the connection back (kept alive
    when the response was complete and both sides allow it) and frees its pool slot."""

    def __init__(
        self, transport: HttpTransport, origin: _Origin, conn: _Connection, read: float | None
    ) -> None:
        self._transport = transport
        self._origin = origin
        self._conn = conn
        self._read_timeout = read
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        while True:
            if conn.body:
                yield conn.take_body()
            elif conn.complete:
                return
            elif conn.error is not None:
                raise conn.error
            elif conn.closed:
                if conn.close_delimited:
                    conn.complete = True
                    return
                raise httpx.RemoteProtocolError(
                    "the provider closed the connection before the response was complete"
                )
            else:
                await conn.wait(self._read_timeout)

    async def aclose(self) -> None:
        if self._released:
            return
        self._released = True
        conn = self._conn
        reusable = (
            conn.complete and not conn.close_delimited and not conn.closed and conn.keep_alive
        )
        self._transport._release(self._origin, conn, reusable)


class HttpTransport(httpx.AsyncHTTPTransport):
    """An httpx transport for the async provider client (see the module docstring).

    Of httpcore's `trace` request extension it reports the one event the client listens for:
    "http11.send_request_body.complete", once the whole request is written.
    """

    def __init__(self, *, limits: httpx.Limits, verify: ssl.SSLContext | bool = True) -> None:
        # One context for both (loading the CA bundle takes about 30 ms): this one's
        # connections and those handed on to httpx's own transport.
        if not isinstance(verify, ssl.SSLContext):
            verify = httpx.create_ssl_context(verify)
        super().__init__(limits=limits, verify=verify)
        self.ssl_context = verify
        self._slots = asyncio.Semaphore(limits.max_connections or 1000)
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._max_idle = limits.max_keepalive_connections or 0
        self._expiry = limits.keepalive_expiry if limits.keepalive_expiry is not None else 5.0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            content = request.content
        except httpx.RequestNotRead:
            content = None
        if content is None or request.method == "HEAD":
            return await super().handle_async_request(request)
        timeouts = request.extensions.get("timeout", {})
        origin = (request.url.raw_scheme, request.url.raw_host, request.url.port or _port(request))
        await self._take_slot(timeouts.get("pool"), request)
        try:
            conn = await self._connection(origin, timeouts.get("connect"), request)
            try:
                await self._send(conn, request, content, timeouts.get("write"))
                await _wait_for_head(conn, timeouts.get("read"), request)
            except BaseException:
                conn.close()
                raise
        except BaseException:
            self._slots.release()
            raise
        return httpx.Response(
            status_code=conn.status,
            headers=conn.headers,
            stream=_Body(self, origin, conn, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": conn.reason.strip()},
        )

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for conn in connections:
                conn.close()
        self._idle.clear()
        await super().aclose()

    async def _take_slot(self, timeout: float | None, request: httpx.Request) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no connection was free in time", request=request) from None

    async def _connection(
        self, origin: _Origin, timeout: float | None, request: httpx.Request
    ) -> _Connection:
        idle = self._idle.get(origin, [])
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if conn.usable(now, self._expiry):
                return conn
            conn.close()
        scheme, host, port = origin
        tls = scheme == b"https"
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(
                    _Connection,
                    host.decode("ascii"),
                    port,
                    ssl=self.ssl_context if tls else None,
                    server_hostname=host.decode("ascii") if tls else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout("connecting timed out", request=request) from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        return conn

    async def _send(
        self, conn: _Connection, request: httpx.Request, content: bytes, timeout: float | None
    ) -> None:
        if conn.closed or conn.transport is None or conn.transport.is_closing():
            raise httpx.WriteError("the connection is closed", request=request)
        head = [b"%s %s HTTP/1.1\r\n" % (request.method.encode("ascii"), request.url.raw_path)]
        head += [b"%s: %s\r\n" % (name, value) for name, value in request.headers.raw]
        head.append(b"\r\n")
        # Two writes, not one joined buffer: the body is ~400 kB with 100k tokens of documents,
        # and each copy of it is a fresh buffer to fault in (about 0.2 ms each here).
        conn.transport.write(b"".join(head))
        conn.transport.write(content)
        await conn.drained(timeout)
        # httpcore's trace extension, with the event httpcore itself reports at this point.
        trace = request.extensions.get("trace")
        if trace is not None:
            await trace("http11.send_request_body.complete", {"return_value": None})

    def _release(self, origin: _Origin, conn: _Connection, reusable: bool) -> None:
        idle = self._idle.setdefault(origin, [])
        if reusable and len(idle) < self._max_idle:
            conn.reset()
            conn.idle_since = time.monotonic()
            idle.append(conn)
        else:
            conn.close()
        self._slots.release()


async def _wait_for_head(conn: _Connection, timeout: float | None, request: httpx.Request) -> None:
    while not conn.head_done:
        if conn.error is not None:
            raise conn.error
        if conn.closed:
            raise httpx.RemoteProtocolError(
                "the provider closed the connection without sending a response", request=request
            )
        await conn.wait(timeout)


def _port(request: httpx.Request) -> int:
    return 443 if request.url.scheme == "https" else 80

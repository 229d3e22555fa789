"""The sockets under the async provider client: httpcore's network backend, on asyncio directly.

httpx talks to the provider through httpcore, whose default async backend is anyio. Every read
of a streamed answer then opens an anyio cancel scope for its timeout and goes through anyio's
stream wrappers: with hundreds of answers streaming, each a read every ~100 ms, that was about a
third of what reading the provider's stream cost the web process (py-spy, docs/benchmarks.md).
This backend implements httpcore's `AsyncNetworkBackend` on an asyncio protocol: a read is a
buffer check, or one future and a moved deadline (one timer per connection, see
`wait_readable`). HTTP parsing, pooling, TLS verification and the timeouts themselves stay
httpx's and httpcore's.

What can fail, as httpcore's own backends report it: ConnectError / ConnectTimeout while
connecting or during the TLS handshake, ReadError / ReadTimeout, WriteError / WriteTimeout. A
closed connection reads as b"" (end of stream), which httpcore turns into its own errors.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

# Stop reading from the socket while this much is buffered and unread (the relay fell behind).
_HIGH_WATER = 256 * 1024


class ReadWaiter:
    """One reader's wait for the next data on a connection, with its read timeout.

    A streamed answer reads every ~100 ms with a 60 s read timeout, so the timer almost never
    fires: arming and cancelling one per read was the costliest line of reading a stream
    (py-spy, 500 streams). Instead each wait moves a deadline, and one timer per connection
    re-arms itself for the current deadline when it fires early. `timeout_error` is what a
    wait that outlasts its timeout raises (httpcore's or httpx's ReadTimeout).
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


class _Protocol(asyncio.Protocol):
    """Buffers what arrives; one reader at a time waits in `reads` (httpcore never reads a
    connection from two tasks at once)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.reads = ReadWaiter(httpcore.ReadTimeout)
        self._drained: asyncio.Future[None] | None = None
        self._paused = False
        self._reading_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
            self._reading_paused = True
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self.reads.cancel_timer()
        self._wake()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _wake(self) -> None:
        self.reads.wake()

    async def wait_readable(self, timeout: float | None) -> None:
        await self.reads.wait(timeout)

    async def wait_drained(self, timeout: float | None) -> None:
        if not self._paused:
            return
        loop = asyncio.get_running_loop()
        self._drained = drained = loop.create_future()
        await _wait(drained, timeout, httpcore.WriteTimeout)

    def take(self, max_bytes: int) -> bytes:
        data = bytes(self.buffer[:max_bytes])
        del self.buffer[:max_bytes]
        if self._reading_paused and len(self.buffer) <= _HIGH_WATER // 2:
            assert self.transport is not None
            self.transport.resume_reading()
            self._reading_paused = False
        return data


async def _wait(
    future: asyncio.Future[None], timeout: float | None, error: type[Exception]
) -> None:
    if timeout is None:
        await future
        return
    handle = asyncio.get_running_loop().call_later(
        timeout, lambda: future.done() or future.set_exception(error(f"timed out ({timeout} s)"))
    )
    try:
        await future
    finally:
        handle.cancel()


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        if not protocol.buffer and not protocol.eof:
            await protocol.wait_readable(timeout)
        if protocol.buffer:
            return protocol.take(max_bytes)
        if protocol.error is not None:
            raise httpcore.ReadError(str(protocol.error)) from protocol.error
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        if self._transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        self._transport.write(buffer)
        await self._protocol.wait_drained(timeout)
        if self._protocol.error is not None:
            raise httpcore.WriteError(str(self._protocol.error)) from self._protocol.error

    async def aclose(self) -> None:
        self._protocol.reads.cancel_timer()
        self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport, self._protocol, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError as exc:
            self._transport.close()
            raise httpcore.ConnectTimeout(str(exc) or "TLS handshake timed out") from exc
        except (OSError, ssl.SSLError) as exc:
            self._transport.close()
            raise httpcore.ConnectError(str(exc)) from exc
        assert transport is not None
        self._protocol.transport = transport  # type: ignore[assignment]
        return AsyncioStream(transport, self._protocol)  # type: ignore[arg-type]

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        if info == "is_readable":
            # Checked on an idle pooled connection: readable means the server closed it (or
            # sent something unasked), so httpcore does not reuse it.
            return bool(self._protocol.buffer) or self._protocol.eof
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = None if local_address is None else (local_address, 0)
        return await _connect(
            loop.create_connection(_Protocol, host, port, local_addr=local),
            timeout,
            socket_options,
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        return await _connect(loop.create_unix_connection(_Protocol, path), timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def _connect(
    connecting: Any, timeout: float | None, socket_options: Iterable[Any] | None
) -> AsyncioStream:
    try:
        async with asyncio.timeout(timeout):
            transport, protocol = await connecting
    except TimeoutError as exc:
        raise httpcore.ConnectTimeout(str(exc) or "connecting timed out") from exc
    except OSError as exc:
        raise httpcore.ConnectError(str(exc)) from exc
    sock = transport.get_extra_info("socket")
    for option in socket_options or ():
        sock.setsockopt(*option)
    return AsyncioStream(transport, protocol)


class AsyncioTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (HTTP/1.1, TLS verified as httpx does) on `AsyncioBackend`.

    httpx takes no network backend, so the connection pool it built is replaced by the same
    pool on this backend; tests/moonshot/test_network.py fails if httpx stops using `_pool`.
    """

    def __init__(self, *, limits: httpx.Limits, verify: ssl.SSLContext | bool = True) -> None:
        super().__init__(limits=limits, verify=verify)
        context = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify)
        self.ssl_context = context
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=AsyncioBackend(),
        )

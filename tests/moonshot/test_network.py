"""apps.moonshot.http11: the async provider client's transport behaves as httpx's own; each test
runs against both, httpx's as the reference."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable

import httpx
import pytest
import trustme

from apps.moonshot.client import AsyncMoonshotClient
from apps.moonshot.http11 import HttpTransport

LIMITS = httpx.Limits(max_connections=10, max_keepalive_connections=5)
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _serve(handler: Handler, **kwargs: object) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0, **kwargs)  # type: ignore[arg-type]
    return server, server.sockets[0].getsockname()[1]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":")[1]))
    return head


def _reply(*chunks: bytes, linger: float = 0.0, close: bool = False) -> Handler:
    """A handler that reads one request, writes `chunks`, then stays `linger` seconds and
    closes the connection when `close` (else leaves it to the server)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        for chunk in chunks:
            writer.write(chunk)
        await writer.drain()
        await asyncio.sleep(linger)
        if close:
            writer.close()

    return handler


def _answer_each(response: bytes) -> Handler:
    """A handler that answers every request on its connection with `response`, until the client
    goes (or fails its TLS handshake)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                await _read_request(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            writer.write(response)
            await writer.drain()

    return handler


_TRANSPORT: list[type[httpx.AsyncHTTPTransport]] = [HttpTransport]


@pytest.fixture(
    autouse=True, params=[httpx.AsyncHTTPTransport, HttpTransport], ids=["httpx", "httptools"]
)
def transport_class(request: pytest.FixtureRequest) -> type[httpx.AsyncHTTPTransport]:
    _TRANSPORT[0] = request.param
    return request.param


def _client(**kwargs: object) -> httpx.AsyncClient:
    transport = _TRANSPORT[0](limits=LIMITS, **kwargs)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, timeout=5)


def test_the_provider_client_uses_this_transport(monkeypatch):
    for scheme in ("https", "http", "all"):
        monkeypatch.delenv(f"{scheme}_proxy", raising=False)
        monkeypatch.delenv(f"{scheme.upper()}_PROXY", raising=False)

    async def main() -> None:
        http = AsyncMoonshotClient._http()
        transport = http._transport
        assert isinstance(transport, HttpTransport)

    asyncio.run(main())


def test_with_a_proxy_in_the_environment_the_client_keeps_httpx_s_transport(monkeypatch):
    """httpx applies HTTPS_PROXY only through its own transports (and not with a custom one)."""
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")

    async def main() -> None:
        transport = AsyncMoonshotClient._http()._transport_for_url(httpx.URL("https://x.cn/v1"))
        assert not isinstance(transport, HttpTransport)
        assert isinstance(transport, httpx.AsyncHTTPTransport)
        assert transport._pool.__class__.__name__ == "AsyncHTTPProxy"

    asyncio.run(main())


def test_streams_a_chunked_response_piece_by_piece_and_reuses_the_connection():
    connections = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        while True:
            try:
                await _read_request(reader)
            except asyncio.IncompleteReadError:
                return
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for piece in (b"data: one\n\n", b"data: two\n\n"):
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                await writer.drain()
                await asyncio.sleep(0.05)
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    async def main() -> list[list[str]]:
        server, port = await _serve(handler)
        seen = []
        async with server, _client() as client:
            for _ in range(2):
                async with client.stream("POST", f"http://127.0.0.1:{port}/", content=b"{}") as r:
                    seen.append([line async for line in r.aiter_lines() if line])
        return seen

    assert asyncio.run(main()) == [["data: one", "data: two"]] * 2
    assert len(connections) == 1  # kept alive and reused


def test_the_trace_extension_hears_when_the_whole_request_is_written():
    """The server answers only once the client said (through `trace`) that it sent the body."""
    body = b"x" * 1_000_000
    sent = asyncio.Event()
    received = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        received.append(await reader.readexactly(len(body)))
        await asyncio.wait_for(sent.wait(), 5)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()

    async def trace(event: str, info: dict) -> None:
        if event == "http11.send_request_body.complete":
            assert info == {"return_value": None}  # what httpcore reports
            sent.set()

    async def main() -> bytes:
        server, port = await _serve(handler)
        async with server, _client() as client:
            response = await client.post(
                f"http://127.0.0.1:{port}/", content=body, extensions={"trace": trace}
            )
            return response.content

    assert asyncio.run(main()) == b"ok"
    assert received == [body]


def test_a_connection_the_server_closed_while_idle_is_not_reused():
    # Closed without "Connection: close": the client must notice by itself.
    handler = _reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", close=True)

    async def main() -> list[str]:
        server, port = await _serve(handler)
        async with server, _client() as client:
            first = await client.get(f"http://127.0.0.1:{port}/")
            await asyncio.sleep(0.1)
            second = await client.get(f"http://127.0.0.1:{port}/")
        return [first.text, second.text]

    assert asyncio.run(main()) == ["ok", "ok"]


def test_a_silent_server_gives_a_read_timeout():
    handler = _reply(linger=5)

    async def main() -> None:
        server, port = await _serve(handler)
        async with server, _client() as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get(f"http://127.0.0.1:{port}/", timeout=httpx.Timeout(5, read=0.2))

    asyncio.run(main())


def test_a_refused_connection_and_a_cut_response_are_httpx_errors():
    handler = _reply(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial", close=True)

    async def main() -> None:
        server, port = await _serve(handler)
        async with server, _client() as client:
            with pytest.raises(httpx.RemoteProtocolError):
                await client.get(f"http://127.0.0.1:{port}/")
        with pytest.raises(httpx.ConnectError):
            async with _client() as client:
                await client.get(f"http://127.0.0.1:{port}/")  # the server is gone

    asyncio.run(main())


def test_tls_is_verified_and_works():
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(server_context)
    trusted = ssl.create_default_context()
    authority.configure_trust(trusted)

    handler = _answer_each(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret")

    async def main() -> None:
        server, port = await _serve(handler, ssl=server_context)
        async with server:
            async with _client(verify=trusted) as client:
                response = await client.get(f"https://127.0.0.1:{port}/")
                assert response.text == "secret"
            async with _client() as client:  # the system's CAs do not know this one
                with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                    await client.get(f"https://127.0.0.1:{port}/")

    asyncio.run(main())


def test_a_reader_that_falls_behind_pauses_the_socket_and_loses_nothing():
    body = bytes(range(256)) * 4096  # 1 MiB, four times the buffer's high-water mark

    handler = _reply(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body), body)

    async def main() -> bytes:
        server, port = await _serve(handler)
        received = bytearray()
        async with (
            server,
            _client() as client,
            client.stream("GET", f"http://127.0.0.1:{port}/") as response,
        ):
            await asyncio.sleep(0.2)  # the whole body arrives meanwhile: reading pauses
            async for piece in response.aiter_raw():
                received += piece
        return bytes(received)

    assert asyncio.run(main()) == body


def test_the_read_timeout_counts_from_each_read_not_from_the_first():
    """One deadline per connection, moved by every read: a stream that keeps sending within the
    read timeout never times out, however long it lasts; the first silence that outlasts it
    does, and a later read with a shorter timeout is not held to the longer one."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(8):  # 8 x 0.1 s: well past the 0.3 s read timeout in all
            writer.write(b"2\r\nok\r\n")
            await writer.drain()
            await asyncio.sleep(0.1)
        await asyncio.sleep(5)  # then silence

    async def main() -> tuple[list[bytes], float]:
        server, port = await _serve(handler)
        pieces: list[bytes] = []
        loop = asyncio.get_running_loop()
        last_read = [loop.time()]

        async def read_all(response: httpx.Response) -> None:
            async for piece in response.aiter_raw():
                pieces.append(piece)
                last_read[0] = loop.time()

        async with server, _client() as client:
            timeout = httpx.Timeout(5, read=0.3)
            async with client.stream("GET", f"http://127.0.0.1:{port}/", timeout=timeout) as r:
                with pytest.raises(httpx.ReadTimeout):
                    await read_all(r)
        return pieces, loop.time() - last_read[0]

    pieces, waited = asyncio.run(main())
    assert b"".join(pieces) == b"ok" * 8
    assert 0.25 < waited < 1.5


def test_a_body_that_ends_when_the_server_closes_is_whole():
    """No Content-Length and not chunked: HTTP/1.1 says the body ends with the connection."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
        for piece in (b"data: a\n\n", b"data: b\n\n"):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.02)
        writer.close()

    async def main() -> bytes:
        server, port = await _serve(handler)
        async with server, _client() as client:
            return (await client.post(f"http://127.0.0.1:{port}/", content=b"{}")).content

    assert asyncio.run(main()) == b"data: a\n\ndata: b\n\n"


def test_an_interim_response_is_skipped_and_garbage_is_a_protocol_error():
    interim = _reply(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n",
        b"Content-Length: 4\r\nX-Id: 7\r\n\r\ndone",
    )
    garbage = _reply(b"this is not HTTP\r\n\r\n")
    upgrade = _reply(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
        linger=1,
    )

    async def main() -> httpx.Response:
        server, port = await _serve(interim)
        async with server, _client() as client:
            response = await client.post(f"http://127.0.0.1:{port}/", content=b"{}")
        server, port = await _serve(garbage)
        async with server, _client() as client:
            with pytest.raises(httpx.RemoteProtocolError):
                await client.post(f"http://127.0.0.1:{port}/", content=b"{}")
        server, port = await _serve(upgrade)
        async with server, _client() as client:
            timeout = httpx.Timeout(5, read=0.5)
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadTimeout)):
                await client.post(f"http://127.0.0.1:{port}/", content=b"{}", timeout=timeout)
        return response

    response = asyncio.run(main())
    assert (response.status_code, response.headers["x-id"], response.text) == (201, "7", "done")


def test_the_connection_limit_gives_a_pool_timeout_and_frees_slots_on_close():
    handler = _answer_each(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    async def main() -> list[str]:
        server, port = await _serve(handler)
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        transport = _TRANSPORT[0](limits=limits)
        url = f"http://127.0.0.1:{port}/"
        async with server, httpx.AsyncClient(transport=transport) as client:
            async with client.stream("POST", url, content=b"{}"):
                with pytest.raises(httpx.PoolTimeout):
                    await client.post(url, content=b"{}", timeout=httpx.Timeout(5, pool=0.2))
            return [(await client.post(url, content=b"{}")).text for _ in range(3)]

    assert asyncio.run(main()) == ["ok"] * 3


def test_a_head_request_is_answered_without_waiting_for_a_body():
    """A HEAD response has no body whatever its Content-Length says (HttpTransport hands HEAD
    to httpx's own transport)."""

    handler = _reply(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", linger=2)

    async def main() -> httpx.Response:
        server, port = await _serve(handler)
        async with server, _client() as client:
            timeout = httpx.Timeout(5, read=1)
            return await client.head(f"http://127.0.0.1:{port}/", timeout=timeout)

    response = asyncio.run(main())
    assert response.status_code == 200 and response.content == b""

"""WhiteNoise, made async-capable.

WhiteNoise's middleware is sync-only. Under ASGI one sync middleware makes Django run the whole
chain through a thread for every request, streaming chat answers included (≈1 ms and a thread per
hop, reference perf anchors §A1). Every other middleware in the stack is async-capable, so this
subclass removes the last sync hop: static files are looked up exactly as WhiteNoise does (a dict
lookup, or a disk check with autorefresh in development) and everything else goes straight on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponseBase
from whitenoise.middleware import WhiteNoiseMiddleware


class AsyncWhiteNoiseMiddleware(WhiteNoiseMiddleware):
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self._is_async:
            return self.__acall__(request)
        return super().__call__(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        if self.autorefresh:
            static_file = await sync_to_async(self.find_file)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            response = await sync_to_async(self.serve)(static_file, request)
            file = getattr(response, "file_to_stream", None)
            if file is not None:
                # Hand Django an async iterator, so the file is read in chunks off the event
                # loop instead of being buffered whole behind a "synchronous iterator" warning.
                response.streaming_content = _read_async(file, response.block_size)
            return response
        return await self.get_response(request)


async def _read_async(file: Any, block_size: int) -> AsyncIterator[bytes]:
    read = sync_to_async(file.read, thread_sensitive=False)
    try:
        while chunk := await read(block_size):
            yield chunk
    finally:
        await sync_to_async(file.close, thread_sensitive=False)()

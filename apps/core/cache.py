"""Django's Redis cache with one connection pool per process instead of one per request.

Django keeps cache objects per async context (`caches` is a context-local), and under ASGI each
request runs in a context of its own: every request built a new `RedisCache`, hence a new
connection pool and a new TCP connection to Redis for the session lookup, closed again at the end.
This backend shares the underlying client (and its thread-safe pool, which redis-py resets after a
fork) between all cache objects of a process with the same servers and options.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_clients: dict[tuple[Any, ...], Any] = {}
_lock = threading.Lock()


class SharedRedisCache(RedisCache):
    # Set by RedisCache.__init__ (django/core/cache/backends/redis.py); its stub leaves them out.
    _class: type[RedisCacheClient]
    _servers: list[str]
    _options: dict[str, Any]

    @cached_property
    def _cache(self) -> Any:
        key = (self._class, tuple(self._servers), repr(sorted(self._options.items())))
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = self._class(self._servers, **self._options)
            return client

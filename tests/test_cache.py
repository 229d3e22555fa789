"""apps.core.cache: one Redis client per process, however many request contexts make caches."""

from __future__ import annotations

import asyncio
import contextvars

from asgiref.sync import sync_to_async
from django.core.cache import caches


def test_caches_of_different_requests_share_one_client_and_its_data():
    async def request(value: str) -> tuple[int, str | None]:
        # Each ASGI request runs in a context of its own, as these tasks do.
        def work() -> tuple[int, str | None]:
            cache = caches["default"]
            cache.set(f"shared-cache-test-{value}", value, 30)
            return id(cache._cache), cache.get("shared-cache-test-a")

        return await sync_to_async(work)()

    async def main() -> list[tuple[int, str | None]]:
        # Fresh contexts, as uvicorn gives each request: no cache object is inherited.
        first = await asyncio.create_task(request("a"), context=contextvars.Context())
        second = await asyncio.create_task(request("b"), context=contextvars.Context())
        return [first, second]

    (client_a, seen_a), (client_b, seen_b) = asyncio.run(main())
    assert client_a == client_b
    assert seen_a == seen_b == "a"
    caches["default"].delete_many(["shared-cache-test-a", "shared-cache-test-b"])


def test_past_its_size_the_pool_makes_callers_wait_rather_than_fail():
    """500 simultaneous questions once got "Too many connections" from redis-py's default
    pool; the blocking pool queues them."""
    import redis

    pool = caches["default"]._cache._get_connection_pool(write=True)
    assert isinstance(pool, redis.BlockingConnectionPool)
    assert pool.max_connections == 500 and pool.timeout == 20

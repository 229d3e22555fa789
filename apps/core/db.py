"""Database connections in async code: hold one only as long as a piece of work needs it."""

from __future__ import annotations

from django.db import connections


def release_db_connections() -> None:
    """Close (or, with a pool, give back) this context's database connections.

    Under ASGI each request's synchronous work runs in a thread of its own, and Django closes
    that thread's connection only at `request_finished`: for a streamed answer, when the stream
    ends. Async code calls this at the end of each synchronous step instead, so no connection is
    held while it waits on the network. A connection inside a transaction is left alone: that
    only happens when a test wraps the whole request in one, and closing it there would break
    the test's transaction.
    """
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()

"""A dependency outage (Redis unreachable): "busy or restarting, try again", never a 500.

Redis carries the session cache, the login throttle, the provider admission controller and the
Celery broker, so while it is down (restarting, crashed, out of reach) a page that needs one of
them cannot be served. That is an outage, not a bug: the browser gets 503 with Retry-After and a
short page (the JSON error shape for the page's scripts and API clients), a stream an `error`
event, and the log one warning line instead of a traceback. Nothing is cached about the outage:
the next request tries Redis again, so everything recovers by itself once it is back.
"""

from __future__ import annotations

from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    BrokerError,  # Celery could not publish a task: the broker (Redis) is unreachable
)


def is_outage(error: BaseException | None) -> bool:
    """True when `error`, or an error it was raised from, means Redis is unreachable."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OUTAGE_ERRORS):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False

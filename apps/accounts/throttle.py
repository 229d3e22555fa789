"""Failed-login throttling in the shared cache (Redis), per client address and per e-mail.

Counting per address stops one client guessing many accounts; counting per e-mail stops many
clients guessing one account. The window restarts at the first failure after it ends.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache


def _keys(ip: str, email: str) -> list[str]:
    return [f"login-fail:ip:{ip}", f"login-fail:email:{email.strip().lower()}"]


def is_locked(ip: str, email: str) -> bool:
    counts = cache.get_many(_keys(ip, email))
    return any(int(v) >= settings.LOGIN_FAILURE_LIMIT for v in counts.values())


def record_failure(ip: str, email: str) -> None:
    for key in _keys(ip, email):
        if cache.add(key, 1, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS):
            continue
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS)


def clear(ip: str, email: str) -> None:
    cache.delete(_keys(ip, email)[1])

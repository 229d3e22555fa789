"""The provider fixtures live in tests/provider.py (shared by every test package)."""

from tests.provider import API_KEY, FAST_RETRY

__all__ = ["API_KEY", "FAST_RETRY"]

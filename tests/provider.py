"""Provider fixtures: one emulator per test session over loopback HTTP, reset for each test.

`provider_settings` points this process (settings) and the processes tests start (environment:
Celery workers, uvicorn) at the emulator with a key, so the app takes its provider paths.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from apps.moonshot.client import AsyncMoonshotClient, MoonshotClient, RetryPolicy
from tools.moonshot_emulator import EmulatorConfig, EmulatorServer

API_KEY = "sk-emulator-test-key-0123456789"
FAST_RETRY = RetryPolicy(max_attempts=5, backoff_base=0.01, backoff_cap=0.05, cooldown_min=0.2)


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(api_key=API_KEY)) as server:
        yield server


@pytest.fixture
def emulator(emulator_server: EmulatorServer) -> Iterator[EmulatorServer]:
    emulator_server.reset()
    config = emulator_server.config
    for name, value in EmulatorConfig(api_key=API_KEY).__dict__.items():
        setattr(config, name, value)
    yield emulator_server
    emulator_server.reset()


@pytest.fixture
def provider(emulator: EmulatorServer) -> MoonshotClient:
    return MoonshotClient(api_key=API_KEY, base_url=emulator.base_url, retry=FAST_RETRY)


@pytest.fixture
def async_provider(emulator: EmulatorServer) -> AsyncMoonshotClient:
    return AsyncMoonshotClient(api_key=API_KEY, base_url=emulator.base_url, retry=FAST_RETRY)


@pytest.fixture
def provider_settings(emulator: EmulatorServer, settings, monkeypatch) -> EmulatorServer:
    """The app (this process and every process a test starts) talks to the emulator."""
    values = {"MOONSHOT_API_KEY": API_KEY, "MOONSHOT_BASE_URL": emulator.base_url}
    for name, value in values.items():
        setattr(settings, name, value)
        monkeypatch.setenv(name, value)
    return emulator

"""Shared helpers for the emulator tests: a running emulator per module and raw SSE parsing.
Sample documents come from tests.samples."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator

import httpx
from openai import OpenAI

from tools.moonshot_emulator import EmulatorConfig, EmulatorServer

KEY = "sk-emulator"
AUTH = {"Authorization": f"Bearer {KEY}"}


def running_emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(api_key=KEY)) as emu:
        yield emu


def fresh(emu: EmulatorServer) -> EmulatorServer:
    """Reset state and faults, and put every config field back to its default."""
    emu.reset()
    defaults = EmulatorConfig(api_key=KEY)
    for field in dataclasses.fields(defaults):
        setattr(emu.config, field.name, getattr(defaults, field.name))
    return emu


def sdk(emu: EmulatorServer, key: str = KEY) -> OpenAI:
    return OpenAI(base_url=emu.base_url, api_key=key, max_retries=0, timeout=20)


def http(emu: EmulatorServer) -> httpx.Client:
    return httpx.Client(base_url=emu.url, headers=AUTH, timeout=20)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def sse_events(text: str) -> list[str]:
    """The `data:` payloads of a complete SSE body, checking the framing on the way."""
    assert text.endswith("\n\n"), "every event ends with a blank line"
    events = text[:-2].split("\n\n")
    assert all(e.startswith("data: ") and "\n" not in e for e in events), events
    return [e[len("data: ") :] for e in events]


def chunks(text: str) -> list[dict]:
    payloads = sse_events(text)
    assert payloads[-1] == "[DONE]"
    return [json.loads(p) for p in payloads[:-1]]
